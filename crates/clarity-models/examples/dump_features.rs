// temp experiment: dump trunk features of the shipped model for some slices (4 flips, unflipped).
use clarity_models::enhance::cpu::CpuEnhanceNet;
use clarity_models::enhance::data::norm_scale;
use std::io::Write;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (input, nx, ny, nz, out) = (&a[1], a[2].parse::<usize>().unwrap(), a[3].parse::<usize>().unwrap(), a[4].parse::<usize>().unwrap(), &a[5]);
    let slices: Vec<usize> = a[6].split(',').map(|s| s.parse().unwrap()).collect();
    let dev = burn::prelude::Device::flex();
    let (model, cfg) = clarity_models::enhance::train::load_model(std::path::Path::new("models/enhance"), &dev).unwrap();
    let net = CpuEnhanceNet::from_model(&model, cfg.context);
    let bytes = std::fs::read(input).unwrap();
    let vol: Vec<f32> = bytes.chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(vol.len(), nx * ny * nz);
    let plane = nx * ny;
    let (h, w) = (ny, nx);
    let mut f = std::fs::File::create(out).unwrap();
    let mut scales = vec![];
    for &k in &slices {
        let slab: Vec<usize> = (0..3).map(|d| (k + d).saturating_sub(1).min(nz - 1)).collect();
        let values: Vec<f32> = slab.iter().flat_map(|&s| vol[s * plane..(s + 1) * plane].to_vec()).collect();
        let scale = norm_scale(&values);
        scales.push(scale);
        let input: Vec<f32> = values.iter().map(|v| v.max(0.0) / scale).collect();
        for (fx, fy) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut x = input.clone();
            for pl in x.chunks_mut(plane) {
                let mut q = pl.to_vec();
                for yy in 0..h { for xx in 0..w {
                    let sx = if fx { w - 1 - xx } else { xx };
                    let sy = if fy { h - 1 - yy } else { yy };
                    q[yy * w + xx] = pl[sy * w + sx];
                }}
                pl.copy_from_slice(&q);
            }
            let feat = net.features_slab(&x, h, w);
            let c = feat.len() / plane;
            let mut un = vec![0f32; feat.len()];
            for yy in 0..h { for xx in 0..w {
                let sx = if fx { w - 1 - xx } else { xx };
                let sy = if fy { h - 1 - yy } else { yy };
                un[(yy * w + xx) * c..(yy * w + xx + 1) * c].copy_from_slice(&feat[(sy * w + sx) * c..(sy * w + sx + 1) * c]);
            }}
            let b: Vec<u8> = un.iter().flat_map(|v| v.to_le_bytes()).collect();
            f.write_all(&b).unwrap();
        }
        eprintln!("slice {k} done");
    }
    std::fs::write(format!("{out}.scales"), scales.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")).unwrap();
    // tail weights
    let t = &net_tail(&model);
    std::fs::write(format!("{out}.tail"), t.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
}
fn net_tail(model: &clarity_models::enhance::EnhanceNet) -> Vec<f32> {
    let mut v = model.tail.weight.val().into_data().as_slice::<f32>().unwrap().to_vec();
    v.extend(model.tail.bias.as_ref().unwrap().val().into_data().as_slice::<f32>().unwrap());
    v
}
