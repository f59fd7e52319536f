// A JVM workload for tests/unwind/cli/test_jit_perf.py: JIT-compiled methods (mix, inner, outer) called from
// interpreted main, and Collections.sort; the JVM writes /tmp/perf-PID.map at exit (-XX:+DumpPerfMapAtExit).
import java.util.*;
public class Work {
    static long mix(long x) { return x * 6364136223846793005L + 1442695040888963407L; }
    static long inner(int n) { long t = 0; for (int i = 0; i < n; i++) t += mix(i) % 7; return t; }
    static long outer(int r) { long t = 0; for (int i = 0; i < 200; i++) t += inner(10000 + r); return t; }
    public static void main(String[] a) {
        long t = 0;
        for (int r = 0; r < 60; r++) {
            t += outer(r);
            List<Integer> l = new ArrayList<>();
            for (int i = 0; i < 100000; i++) l.add((int)(mix(i) % 100000));
            Collections.sort(l);
            t += l.get(500);
        }
        System.out.println(t);
    }
}
