//! The `tokengo` binary.

fn main() {
    println!("tokengo {}", env!("CARGO_PKG_VERSION"));
}
