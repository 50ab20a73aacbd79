//! Defines a message type the way the crate documentation shows, with nothing but shm_ring as
//! a dependency, and checks that its bytes round-trip. Exits 0 when they do.

use shm_ring::bytemuck::{self, Pod, Zeroable};

#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[bytemuck(crate = "shm_ring::bytemuck")]
#[repr(C)]
struct Reading {
    sensor: u32,
    celsius: f32,
}

fn main() {
    let reading = Reading {
        sensor: 7,
        celsius: 21.5,
    };
    let bytes = bytemuck::bytes_of(&reading);
    assert_eq!(bytes.len(), 8);
    let back: Reading = bytemuck::pod_read_unaligned(bytes);
    assert_eq!(back, reading);
    println!("derive_crate: Reading derived Pod and Zeroable through shm_ring::bytemuck");
}
