//! See `depmap_suite::fuzz_bodies::netflow_datagrams` for the input layout.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| depmap_suite::fuzz_bodies::netflow_datagrams(data));
