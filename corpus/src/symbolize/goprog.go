// A Go program with generics and inlining (symbolisation builds).
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

type number interface{ ~int | ~float64 }

func sum[T number](xs []T) T {
	var t T
	for _, x := range xs {
		t += x
	}
	return t
}

func mix(a, b int) int { return (a * 31) ^ (b + 7) }

func words(text string) map[string]int {
	out := map[string]int{}
	for _, w := range strings.Fields(text) {
		out[w] += mix(len(w), 3)
	}
	return out
}

func main() {
	w := words("the quick brown fox jumps over the lazy dog")
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println(sum([]int{1, 2, len(os.Args)}), sum([]float64{0.5, 1.5}), keys)
}
