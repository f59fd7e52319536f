"""Thin ctypes paths around unicorn's C API for the two hot spots: reading one register, block hooks.

The Python binding's reg_read and hook trampolines cost ~5 us and ~1 us per call; these cost a
fraction of that, which is what keeps the block hook above 1 M emulated instructions per second.
"""

from __future__ import annotations

import ctypes
from typing import Callable, Protocol

from unicorn import UC_HOOK_BLOCK
from unicorn.unicorn_py3 import unicorn as _binding

HOOK_CODE_CFUNC = _binding.HOOK_CODE_CFUNC


class Context(Protocol):
    """A saved CPU state (unicorn's UcContext): a switched-out thread's registers."""

    def reg_read(self, reg_id: int) -> int: ...

    def reg_write(self, reg_id: int, value: int) -> None: ...


class Emulator(Protocol):
    """The part of unicorn's `Uc` the simulator calls, typed (the binding's own annotations are partial and
    vary by version, so mypy reads unicorn as untyped: see pyproject.toml). Registers are x86-64 integers."""

    _uch: object  # the engine handle, which the ctypes paths below pass to the C API

    def reg_read(self, reg_id: int) -> int: ...

    def reg_write(self, reg_id: int, value: int) -> None: ...

    def mem_read(self, address: int, size: int) -> bytearray: ...

    def mem_write(self, address: int, data: bytes | bytearray) -> None: ...

    def mem_map(self, address: int, size: int, perms: int = ...) -> None: ...

    def mem_unmap(self, address: int, size: int) -> None: ...

    def mem_protect(self, address: int, size: int, perms: int = ...) -> None: ...

    def emu_start(self, begin: int, until: int, timeout: int = 0, count: int = 0) -> None: ...

    def emu_stop(self) -> None: ...

    # `callback(uc, ...)` with the arguments of the hook type; `arg1` is the instruction of UC_HOOK_INSN.
    def hook_add(self, htype: int, callback: Callable[..., None], user_data: object = None, begin: int = 1,
                 end: int = 0, arg1: int = 0) -> int: ...

    def hook_del(self, handle: int) -> None: ...

    def context_save(self) -> Context: ...

    def context_restore(self, context: Context) -> None: ...


class RegReader:
    """Reads 64-bit registers straight through uc_reg_read."""

    __slots__ = ("_fn", "_handle", "_buf", "_ref")

    def __init__(self, uc: Emulator) -> None:
        self._fn = _binding.uclib.uc_reg_read
        self._handle = uc._uch
        self._buf = ctypes.c_uint64()
        self._ref = ctypes.byref(self._buf)

    def __call__(self, reg: int) -> int:
        self._fn(self._handle, reg, self._ref)
        return self._buf.value


class RawBlockHook:
    """A UC_HOOK_BLOCK calling `func(address, size)` directly; exceptions are kept and the run stopped."""

    def __init__(self, uc: Emulator, func: Callable[[int, int], None]) -> None:
        self.error: BaseException | None = None
        self._uc = uc

        def trampoline(_handle: object, address: int, size: int, _data: object) -> None:
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
