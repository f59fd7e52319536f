"""Thin ctypes paths around unicorn's C API for the two hot spots: reading one register, block hooks.

The Python binding's reg_read and hook trampolines cost ~5 us and ~1 us per call; these cost a
fraction of that, which is what keeps the block hook above 1 M emulated instructions per second.
"""

from __future__ import annotations

import ctypes

from unicorn import UC_HOOK_BLOCK
from unicorn.unicorn_py3 import unicorn as _binding

HOOK_CODE_CFUNC = _binding.HOOK_CODE_CFUNC


class RegReader:
    """Reads 64-bit registers straight through uc_reg_read."""

    __slots__ = ("_fn", "_handle", "_buf", "_ref")

    def __init__(self, uc):
        self._fn = _binding.uclib.uc_reg_read
        self._handle = uc._uch
        self._buf = ctypes.c_uint64()
        self._ref = ctypes.byref(self._buf)

    def __call__(self, reg: int) -> int:
        self._fn(self._handle, reg, self._ref)
        return self._buf.value


class RawBlockHook:
    """A UC_HOOK_BLOCK calling `func(address, size)` directly; exceptions are kept and the run stopped."""

    def __init__(self, uc, func):
        self.error: BaseException | None = None
        self._uc = uc

        def trampoline(_handle, address, size, _data):
            try:
                func(address, size)
            except BaseException as exc:  # noqa: BLE001 - a C callback cannot raise; kept, re-raised after emu_start
                if self.error is None:
                    self.error = exc
                uc.emu_stop()

        self._cfunc = HOOK_CODE_CFUNC(trampoline)
        self._hh = _binding.uc_hook_h()
        status = _binding.uclib.uc_hook_add(uc._uch, ctypes.byref(self._hh), UC_HOOK_BLOCK,
                                            ctypes.cast(self._cfunc, ctypes.c_void_p), None,
                                            ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != 0:
            raise _binding.UcError(status)

    def check(self) -> None:
        """Re-raise an exception the hook swallowed."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error
