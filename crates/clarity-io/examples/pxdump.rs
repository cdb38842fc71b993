// Developer aid: print how a file decodes and the values at given flat indices.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::Path::new(&args[1]);
    match clarity_io::dicom::decode_file(path) {
        Ok(px) => {
            println!(
                "shape {:?} type {:?} photometric {}",
                px.shape(),
                px.sample_type,
                px.photometric
            );
            let idx: Vec<usize> = args[2..].iter().map(|s| s.parse().unwrap()).collect();
            for i in idx {
                println!("  [{i}] = {}", px.values[i]);
            }
        }
        Err(e) => println!("error: {e}"),
    }
}
