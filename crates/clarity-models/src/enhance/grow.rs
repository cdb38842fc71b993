//! Growing a trained [`super::EnhanceNet`] into a wider and deeper one that computes the same
//! function, so a larger network starts where the smaller one's training ended (Net2Net:
//! Chen, Goodfellow & Shlens, 2016).
//!
//! Why: on 2 CPU cores the 32-channel, 8-layer network's validation loss stopped improving
//! after ~12 000 steps (its capacity), and a larger network trained from scratch needs that many
//! steps again at 2-4× the cost per step before it even catches up.
//!
//! - **Wider**: each new channel of a hidden layer copies an existing channel (its incoming
//!   weights and bias); the next layer's weights from the copies of a channel share that
//!   channel's old weight in random positive fractions summing to one. Unequal fractions make
//!   the copies' gradients differ, so they do not stay copies (with equal halves they would).
//! - **Deeper**: new layers are identities (centre tap 1 on its own channel, zero elsewhere);
//!   they sit after a ReLU, so their own ReLU changes nothing. The centre tap is the same pixel
//!   whatever the tap spacing, so new layers may be dilated ones: the function is unchanged and
//!   training can then use their wider reach.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::cpu::{Conv3x3, CpuEnhanceNet};

/// `net` grown to `channels` feature channels and `depth` layers, computing the same function
/// (up to float rounding). `dilations` is the grown network's tap spacing per layer (empty:
/// all 1); the old layers keep theirs, so it must agree with them where they land (new layers
/// are spread evenly between the old ones). `seed` picks which channels are copied and the
/// fractions.
pub fn grow(
    net: &CpuEnhanceNet,
    channels: usize,
    depth: usize,
    dilations: &[usize],
    seed: u64,
) -> Result<CpuEnhanceNet, String> {
    let old_depth = net.layers.len();
    let old_channels = net.layers[0].c_out;
    if channels < old_channels || depth < old_depth {
        return Err(format!(
            "cannot shrink a network: it has {old_channels} channels and {old_depth} layers, \
             asked for {channels} and {depth}"
        ));
    }
    if !dilations.is_empty() && dilations.len() != depth {
        return Err(format!("{} dilations given for {depth} layers", dilations.len()));
    }
    let asked: Vec<usize> = if dilations.is_empty() { vec![1; depth] } else { dilations.to_vec() };
    let wide = widen(net, channels, &mut StdRng::seed_from_u64(seed ^ 0x6E72_6F77));
    let deep = deepen(&wide, depth, |l| asked[l]);
    let got = deep.dilations();
    if got != asked {
        // Only an old layer can disagree: new ones were given the asked spacing.
        return Err(format!(
            "the model's {} layers have dilations {:?} and keep them; grown to {depth} layers \
             they sit where {got:?} has them, but the dilations asked are {asked:?}",
            net.layers.len(),
            net.dilations()
        ));
    }
    Ok(deep)
}

/// `net` with one more input channel at the end (a constant plane: noise level, reduction)
/// whose weights are zero: the same function of the other channels, whatever the plane holds,
/// until training finds a use for it.
pub fn with_extra_input(net: &CpuEnhanceNet) -> CpuEnhanceNet {
    let c_in = net.layers[0].c_in;
    CpuEnhanceNet::new(head_with_zero_inputs(net, &[(c_in, 1)]), net.context)
}

/// `net` reading `context` slices on each side instead of its own, computing the same function:
/// the new outer slices' head weights are zero, so they change nothing until training finds a
/// use for them. The constant planes (noise, reduction) stay after the image channels.
pub fn with_context(net: &CpuEnhanceNet, context: usize) -> Result<CpuEnhanceNet, String> {
    if context < net.context {
        return Err(format!(
            "cannot narrow the slice context: the model reads {} slice(s) on each side, asked \
             for {context}",
            net.context
        ));
    }
    let (images, added) = (2 * net.context + 1, context - net.context);
    Ok(CpuEnhanceNet::new(head_with_zero_inputs(net, &[(0, added), (images, added)]), context))
}

/// `net`'s layers with zero-weight input channels put into the head: `(before, count)` puts
/// `count` new channels before old input channel `before` (the old count: at the end), in
/// increasing `before`.
fn head_with_zero_inputs(net: &CpuEnhanceNet, inserts: &[(usize, usize)]) -> Vec<Conv3x3> {
    let head = &net.layers[0];
    let (ci, co) = (head.c_in, head.c_out);
    let added: usize = inserts.iter().map(|&(_, n)| n).sum();
    // Rows are ordered (tap, input channel): each tap's block of `ci` rows gains the zero rows.
    let mut weight = Vec::with_capacity(9 * (ci + added) * co);
    for tap in head.weight.chunks(ci * co) {
        let mut from = 0;
        for &(before, count) in inserts {
            weight.extend_from_slice(&tap[from * co..before * co]);
            weight.extend(std::iter::repeat_n(0.0, count * co));
            from = before;
        }
        weight.extend_from_slice(&tap[from * co..]);
    }
    let mut layers = net.layers.clone();
    layers[0] = Conv3x3 { c_in: ci + added, weight, ..head.clone() };
    layers
}

/// Which old channel each new channel copies, and the share of the old channel's outgoing
/// weight it carries.
struct ChannelMap {
    source: Vec<usize>,
    share: Vec<f32>,
}

impl ChannelMap {
    fn identity(n: usize) -> Self {
        Self { source: (0..n).collect(), share: vec![1.0; n] }
    }

    fn random(old: usize, new: usize, rng: &mut StdRng) -> Self {
        let source: Vec<usize> =
            (0..new).map(|j| if j < old { j } else { rng.gen_range(0..old) }).collect();
        let raw: Vec<f32> = source.iter().map(|_| rng.gen_range(0.5..1.5)).collect();
        let mut total = vec![0f32; old];
        for (&s, &r) in source.iter().zip(&raw) {
            total[s] += r;
        }
        let share = source.iter().zip(&raw).map(|(&s, &r)| r / total[s]).collect();
        Self { source, share }
    }
}

fn widen(net: &CpuEnhanceNet, channels: usize, rng: &mut StdRng) -> CpuEnhanceNet {
    let n = net.layers.len();
    // maps[b]: the channels between layer b and b + 1 (every layer's output but the tail's).
    let maps: Vec<ChannelMap> =
        (0..n - 1).map(|_| ChannelMap::random(net.layers[0].c_out, channels, rng)).collect();
    let layers = net
        .layers
        .iter()
        .enumerate()
        .map(|(l, old)| {
            let (first, last) = (ChannelMap::identity(old.c_in), ChannelMap::identity(old.c_out));
            let input = if l == 0 { &first } else { &maps[l - 1] };
            let output = if l == n - 1 { &last } else { &maps[l] };
            let (ci, co) = (input.source.len(), output.source.len());
            let mut weight = vec![0f32; 9 * ci * co];
            for t in 0..9 {
                for (i, (&si, &share)) in input.source.iter().zip(&input.share).enumerate() {
                    for (o, &so) in output.source.iter().enumerate() {
                        weight[(t * ci + i) * co + o] =
                            old.weight[(t * old.c_in + si) * old.c_out + so] * share;
                    }
                }
            }
            let bias = output.source.iter().map(|&so| old.bias[so]).collect();
            Conv3x3 { c_in: ci, c_out: co, weight, bias, dilation: old.dilation }
        })
        .collect();
    CpuEnhanceNet::new(layers, net.context)
}

/// `net` with identity layers added up to `depth`; a new layer at position `l` of the result
/// gets tap spacing `dilation(l)`.
fn deepen(net: &CpuEnhanceNet, depth: usize, dilation: impl Fn(usize) -> usize) -> CpuEnhanceNet {
    let n = net.layers.len();
    let extra = depth - n;
    let c = net.layers[0].c_out;
    // Spread the identities evenly after the head and body layers (never after the tail).
    let slots = n - 1;
    let mut layers = Vec::with_capacity(depth);
    for (l, layer) in net.layers.iter().enumerate() {
        layers.push(layer.clone());
        if l < slots {
            for _ in 0..(extra * (l + 1) / slots - extra * l / slots) {
                layers.push(identity_layer(c, dilation(layers.len())));
            }
        }
    }
    CpuEnhanceNet::new(layers, net.context)
}

/// A 3×3 convolution (taps `dilation` apart) that passes its input through: the centre tap
/// (ky = kx = 1) of each channel onto itself.
fn identity_layer(c: usize, dilation: usize) -> Conv3x3 {
    let mut weight = vec![0f32; 9 * c * c];
    for i in 0..c {
        weight[(4 * c + i) * c + i] = 1.0;
    }
    Conv3x3 { c_in: c, c_out: c, weight, bias: vec![0.0; c], dilation }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enhance::cpu_train::seeded_init;
    use crate::enhance::EnhanceNetConfig;

    /// A seeded network with a random (non-zero) tail, so its output depends on every layer.
    fn trained_looking(cfg: &EnhanceNetConfig, seed: u64) -> CpuEnhanceNet {
        let mut net = seeded_init(cfg, seed);
        let mut rng = StdRng::seed_from_u64(seed);
        let tail = net.layers.last_mut().unwrap();
        tail.weight.iter_mut().for_each(|w| *w = rng.gen_range(-0.2..0.2));
        tail.bias[0] = 0.05;
        for layer in &mut net.layers {
            layer.bias.iter_mut().for_each(|b| *b = rng.gen_range(-0.05..0.05));
        }
        net
    }

    /// `len` values uniform in [0, 1), from `seed`: a network input.
    fn random_slab(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..len).map(|_| rng.gen_range(0.0..1.0)).collect()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max)
    }

    #[test]
    fn grown_network_computes_the_same_function() {
        let cfg = EnhanceNetConfig::new(1, 6, 4);
        let small = trained_looking(&cfg, 3);
        let (h, w) = (13, 11);
        let x = random_slab(3 * h * w, 9);
        let want = small.forward_slab(&x, h, w);
        let centre = &x[h * w..2 * h * w];
        let residual = max_abs_diff(&want, centre);
        assert!(residual > 1e-2, "the test network must not be the identity");
        // (channels, depth): wider only, deeper only, both.
        for (c, d) in [(9, 4), (6, 7), (10, 9)] {
            let big = grow(&small, c, d, &[], 1).unwrap();
            assert_eq!(big.layers.len(), d);
            assert!(big.layers[..d - 1].iter().all(|l| l.c_out == c));
            assert_eq!(big.layers[0].c_in, 3);
            assert_eq!(big.layers[d - 1].c_out, 1);
            let params: usize = big.layers.iter().map(|l| l.weight.len() + l.bias.len()).sum();
            let grown_cfg = EnhanceNetConfig { channels: c, depth: d, ..cfg.clone() };
            assert_eq!(params, grown_cfg.parameters());
            let got = big.forward_slab(&x, h, w);
            let diff = max_abs_diff(&want, &got);
            assert!(diff < 1e-5, "{c} channels, {d} layers: max difference {diff}");
        }
    }

    #[test]
    fn copies_are_not_exact_twins() {
        // Each copied channel carries a different share of the outgoing weight, or training
        // could never tell the copies apart.
        let cfg = EnhanceNetConfig::new(0, 2, 3);
        let big = grow(&trained_looking(&cfg, 5), 8, 3, &[], 2).unwrap();
        let next = &big.layers[1];
        let column = |i: usize| (0..9).map(|t| next.weight[(t * 8 + i) * 8]).collect::<Vec<_>>();
        let columns: Vec<Vec<f32>> = (0..8).map(column).collect();
        for i in 0..8 {
            for j in i + 1..8 {
                assert_ne!(columns[i], columns[j], "channels {i} and {j}");
            }
        }
    }

    #[test]
    fn zero_weighted_plane_inputs_change_nothing_and_survive_growing() {
        let cfg = EnhanceNetConfig::new(1, 5, 3);
        let small = trained_looking(&cfg, 7);
        let (h, w) = (9, 12);
        let x = random_slab(3 * h * w, 4);
        let want = small.forward_slab(&x, h, w);
        let noisy = grow(&with_extra_input(&small), 7, 4, &[], 0).unwrap();
        // The noise plane, then the reduction plane on top of it.
        let both = with_extra_input(&noisy);
        assert_eq!((noisy.layers[0].c_in, both.layers[0].c_in), (4, 5));
        let noise_cfg = EnhanceNetConfig { channels: 7, depth: 4, noise_channel: true, ..cfg };
        let both_cfg = EnhanceNetConfig { reduction_channel: true, ..noise_cfg.clone() };
        let params = |n: &CpuEnhanceNet| -> usize {
            n.layers.iter().map(|l| l.weight.len() + l.bias.len()).sum()
        };
        assert_eq!(params(&noisy), noise_cfg.parameters());
        assert_eq!(params(&both), both_cfg.parameters());
        for (level, dropped) in [(0.0, 0.2), (0.3, 0.33), (2.0, 0.4)] {
            let mut x4 = x.clone();
            x4.extend(std::iter::repeat_n(level, h * w));
            let mut x5 = x4.clone();
            x5.extend(std::iter::repeat_n(dropped, h * w));
            for (net, input) in [(&noisy, &x4), (&both, &x5)] {
                let got = net.forward_slab(input, h, w);
                let diff = max_abs_diff(&want, &got);
                assert!(diff < 1e-5, "planes {level}, {dropped}: max difference {diff}");
            }
        }
    }

    #[test]
    fn a_wider_slice_context_starts_as_the_same_function_and_keeps_its_planes() {
        // Context 1 with a noise plane, widened to context 3: the input gains two slices on
        // each side, whatever they hold the output is the old network's on the middle three.
        let cfg = EnhanceNetConfig::new(1, 5, 3);
        let small = with_extra_input(&trained_looking(&cfg, 13));
        let (h, w) = (10, 9);
        let plane = h * w;
        let mut x = random_slab(3 * plane, 21);
        x.extend(std::iter::repeat_n(0.4, plane));
        let want = small.forward_slab(&x, h, w);
        let wide = with_context(&small, 3).unwrap();
        assert_eq!((wide.context, wide.layers[0].c_in), (3, 8));
        let mut x7 = random_slab(2 * plane, 22);
        x7.extend_from_slice(&x[..3 * plane]);
        x7.extend(random_slab(2 * plane, 23));
        x7.extend(std::iter::repeat_n(0.4, plane));
        let got = wide.forward_slab(&x7, h, w);
        let diff = max_abs_diff(&want, &got);
        assert!(diff < 1e-5, "max difference {diff}");
        let err = with_context(&wide, 2).err().unwrap();
        assert!(err.contains("cannot narrow"), "{err}");
    }

    #[test]
    fn new_layers_may_be_dilated_and_old_ones_keep_their_spacing() {
        let cfg = EnhanceNetConfig::new(1, 5, 4);
        let small = trained_looking(&cfg, 11);
        let (h, w) = (17, 14);
        let x = random_slab(3 * h * w, 6);
        let want = small.forward_slab(&x, h, w);
        // 4 → 7 layers: the new ones land after the old layers 0, 1 and 2 (positions 1, 3, 5).
        let dilations = [1, 2, 1, 4, 1, 3, 1];
        let big = grow(&small, 6, 7, &dilations, 2).unwrap();
        assert_eq!(big.dilations(), dilations);
        let got = big.forward_slab(&x, h, w);
        let diff = max_abs_diff(&want, &got);
        assert!(diff < 1e-5, "max difference {diff}");
        // Asking an old layer (position 2) to change its spacing would change the function.
        let err = grow(&small, 6, 7, &[1, 2, 2, 4, 1, 3, 1], 2).err().unwrap();
        assert!(err.contains("keep them"), "{err}");
        assert!(grow(&small, 6, 7, &[1, 2, 1], 2).err().unwrap().contains("3 dilations"));
    }

    #[test]
    fn refuses_to_shrink() {
        let cfg = EnhanceNetConfig::new(0, 4, 4);
        let net = seeded_init(&cfg, 0);
        assert!(matches!(grow(&net, 3, 4, &[], 0), Err(e) if e.contains("cannot shrink")));
        assert!(grow(&net, 4, 3, &[], 0).is_err());
    }
}
