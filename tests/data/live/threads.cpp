// Test program for `unwind pid`: C++ threads parked in known places (a condition variable wait,
// a comparator under std::sort, a template member function blocked in a raw read(2) on a pipe),
// then "ready PID" on stdout; it runs until killed.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

namespace shapes {
std::atomic<int> parked{0};
std::mutex mutex;
std::condition_variable never;
int pipe_fds[2];

template <typename T> struct Reader {
    __attribute__((noinline)) T read_one(int depth)
    {
        if (depth > 0)
            return read_one(depth - 1) + 1;
        T value{};
        parked++;
        while (::read(pipe_fds[0], &value, sizeof value) < 0) {
        }
        return value;
    }
};

__attribute__((noinline)) void wait_forever()
{
    std::unique_lock<std::mutex> lock(mutex);
    parked++;
    never.wait(lock, [] { return false; });
}

struct ByValue {
    __attribute__((noinline)) bool operator()(const std::vector<int> &a, const std::vector<int> &b) const
    {
        static std::atomic<int> calls{0};
        if (++calls == 7) {
            parked++;
            for (;;)
                pause();
        }
        return a < b;
    }
};

__attribute__((noinline)) void sort_rows()
{
    std::vector<std::vector<int>> rows;
    for (int i = 0; i < 64; i++)
        rows.push_back({(i * 37) % 64, i});
    std::sort(rows.begin(), rows.end(), ByValue());
}
} // namespace shapes

int main()
{
    if (pipe(shapes::pipe_fds) != 0)
        return 1;
    std::thread a(shapes::wait_forever);
    std::thread b(shapes::sort_rows);
    std::thread c([] { shapes::Reader<long>().read_one(3); });
    while (shapes::parked.load() < 3)
        usleep(1000);
    std::printf("ready %d\n", (int)getpid());
    std::fflush(stdout);
    a.join();
    return 0;
}
