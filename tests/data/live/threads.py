"""Test program for `unwind pid`: Python threads parked in a lock wait, a sleep and a blocking read,
then "ready PID" on stdout; it echoes every line of stdin until killed."""

import os
import sys
import threading
import time

parked = threading.Semaphore(0)
never = threading.Lock()
never.acquire()
read_fd, write_fd = os.pipe()


def in_lock():
    parked.release()
    never.acquire()


def in_sleep():
    parked.release()
    while True:
        time.sleep(3600)


def in_read(depth):
    if depth:
        return in_read(depth - 1)
    parked.release()
    return os.read(read_fd, 1)


for target, args in ((in_lock, ()), (in_sleep, ()), (in_read, (5,))):
    threading.Thread(target=target, args=args, daemon=True).start()
for _ in range(3):
    parked.acquire()
print("ready", os.getpid(), flush=True)
for line in sys.stdin:  # the main thread blocks in read(2) on the test's pipe and echoes: proof it runs
    print(line.strip(), flush=True)
