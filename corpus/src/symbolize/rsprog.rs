// A Rust program with generics, closures and inlining (symbolisation builds).
use std::collections::HashMap;

#[inline(always)]
fn mix(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31) ^ b.wrapping_add(7)
}

trait Shape {
    fn area(&self) -> f64;
}

struct Square(f64);
struct Circle(f64);

impl Shape for Square {
    fn area(&self) -> f64 {
        self.0 * self.0
    }
}

impl Shape for Circle {
    fn area(&self) -> f64 {
        3.14159 * self.0 * self.0
    }
}

fn total<T: Shape>(items: &[T]) -> f64 {
    items.iter().map(|s| s.area()).sum()
}

#[inline(never)]
fn count_words(text: &str) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_string()).or_insert(0) += mix(word.len() as u64, 3);
    }
    counts
}

fn main() {
    let n = std::env::args().count() as f64;
    let squares: Vec<Square> = (0..10).map(|i| Square(i as f64 + n)).collect();
    let circles: Vec<Circle> = (0..10).map(|i| Circle(i as f64 * n)).collect();
    let words = count_words("the quick brown fox jumps over the lazy dog the end");
    println!("{} {} {}", total(&squares), total(&circles), words.len());
}
