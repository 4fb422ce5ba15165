//! Link-type byte, flow-table knobs and frame records in; see
//! `depmap_suite::fuzz_bodies::decode_frame` for the layout.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| depmap_suite::fuzz_bodies::decode_frame(data));
