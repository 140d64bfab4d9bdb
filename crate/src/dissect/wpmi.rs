//! `soft_wpmi`, CLIP-Dissect's default similarity between neurons and concepts (`similarity.py`), computed
//! without ever holding the images × concepts probability matrix.
//!
//! The original, for a layer's activations `A` [N images × L neurons] and CLIP scores `S` [N × C concepts]
//! (`S = normalize(image_emb) @ normalize(text_emb).T`):
//! ```text
//! P      = softmax(a · S, over concepts)                          // P(concept | image)
//! top_l  = the top_k images of neuron l by activation, in decreasing order
//! p_r    = p_start − r/top_k · (p_start − p_end),  r = 0..top_k    // how surely the r-th image shows it
//! D[l,c] = Σ_r log(1 + p_r · (P[top_l[r], c] − 1) + min_prob)     // log P(concept | neuron's images)
//! M[c]   = logsumexp_l D[l,c] − log L                             // log P(concept), averaged over the layer
//! WPMI[l,c] = D[l,c] − λ · M[c]
//! ```
//! The label of neuron l is `argmax_c WPMI[l,c]` and its similarity that maximum (`describe_neurons.py`).
//! Only the rows of `P` for images in some neuron's top-k are needed; they are made in chunks and folded into `D`,
//! so peak memory is `8·L·C` bytes (the `D` accumulator, f64) + `4·256·C` (a chunk of score rows) besides what the score source holds.
//! Parity with the real `similarity.py`: `crate/tests/dissect_wpmi.rs` (fixture by `tests/reference/wpmi_reference.py`).

use anyhow::{ensure, Result};
use ndarray::{Array2, ArrayView2, Axis};

use crate::numerics::softmax_scaled_f64;
use crate::progress::{check_cancelled, Progress};

/// The parameters of `similarity.soft_wpmi`, with its defaults.
/// In a job file any subset may be given (`{"top_k": 16}`); the rest keep these defaults.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SoftWpmiParams {
    pub top_k: usize,
    pub a: f64,
    pub lam: f64,
    pub min_prob: f64,
    pub p_start: f64,
    pub p_end: f64,
}

impl Default for SoftWpmiParams {
    fn default() -> Self {
        Self {
            top_k: 100,
            a: 10.0,
            lam: 1.0,
            min_prob: 1e-7,
            p_start: 0.998,
            p_end: 0.97,
        }
    }
}

/// Image × concept scores `S` (CLIP's cosine similarities, or a classifier's logits divided by `a`), given a few
/// rows at a time so that a large probe set never needs the full matrix.
pub trait ConceptScores {
    fn n_images(&self) -> usize;
    fn n_concepts(&self) -> usize;
    /// Rows `S[images[i], :]`, shape `[images.len(), n_concepts]`.
    fn score_rows(&self, images: &[usize]) -> Result<Array2<f32>>;
}

/// A dense in-memory score matrix (tests, classifier matcher, small probe sets).
impl ConceptScores for Array2<f32> {
    fn n_images(&self) -> usize {
        self.nrows()
    }
    fn n_concepts(&self) -> usize {
        self.ncols()
    }
    fn score_rows(&self, images: &[usize]) -> Result<Array2<f32>> {
        Ok(self.select(Axis(0), images))
    }
}

/// The `top_k` images of every neuron, by decreasing activation (ties: lower image index first), as `[top_k, L]`
/// like `torch.topk(target_feats, dim=0, k=top_k)[1]`.
pub fn top_k_images(activations: ArrayView2<f32>, top_k: usize) -> Result<Array2<usize>> {
    let (n, l) = activations.dim();
    ensure!(
        top_k >= 1 && top_k <= n,
        "top_k = {top_k} but the probe set has {n} images: use a larger probe set or a top_k between 1 and {n}"
    );
    let mut out = Array2::zeros((top_k, l));
    let mut order: Vec<usize> = (0..n).collect();
    for (neuron, column) in activations.axis_iter(Axis(1)).enumerate() {
        ensure!(
            column.iter().all(|v| v.is_finite()),
            "neuron {neuron} has a non-finite activation"
        );
        order.sort_unstable_by(|&i, &j| column[j].total_cmp(&column[i]).then(i.cmp(&j)));
        for (rank, &image) in order[..top_k].iter().enumerate() {
            out[[rank, neuron]] = image;
        }
    }
    Ok(out)
}

/// `soft_wpmi(clip_feats, target_feats, ...)`: the `[L neurons, C concepts]` WPMI matrix.
pub fn soft_wpmi(
    scores: &dyn ConceptScores,
    activations: ArrayView2<f32>,
    params: &SoftWpmiParams,
    progress: &dyn Progress,
) -> Result<Array2<f32>> {
    let (n, l) = activations.dim();
    let c = scores.n_concepts();
    ensure!(
        scores.n_images() == n,
        "the concept matcher scored {} images but the layer has activations for {n}",
        scores.n_images()
    );
    ensure!(
        l > 0 && c > 0,
        "nothing to match: {l} neurons, {c} concepts"
    );
    let top = top_k_images(activations, params.top_k)?;
    let k = params.top_k;
    // p_r rounded exactly as torch makes it, `p_start - (arange(top_k)/top_k * (p_start - p_end))`: a float32
    // tensor, the Python-float scalars cast to float32 (a 1e-9 change of p_r moves the WPMI by ~1e-5). Everything
    // after is f64: torch's float32 sums of ~100 logs near −500 carry ~1e-4 of rounding, enough to decide near-ties.
    let span = (params.p_start - params.p_end) as f32;
    let p_in_examples: Vec<f64> = (0..k)
        .map(|r| f64::from(params.p_start as f32 - (r as f32 / k as f32) * span))
        .collect();

    // For every image in some top-k, the (neuron, rank) slots it fills.
    let mut slots: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for ((rank, neuron), &image) in top.indexed_iter() {
        slots[image].push((neuron, rank));
    }
    let needed: Vec<usize> = (0..n).filter(|&i| !slots[i].is_empty()).collect();

    let mut log_p_d_given_e = Array2::<f64>::zeros((l, c));
    let mut probs = vec![0.0f64; c];
    let min_prob = params.min_prob;
    progress.stage("soft_wpmi", needed.len() as u64);
    const CHUNK: usize = 256;
    for chunk in needed.chunks(CHUNK) {
        check_cancelled(progress)?;
        let raw = scores.score_rows(chunk)?;
        ensure!(
            raw.dim() == (chunk.len(), c),
            "concept scores have shape {:?}, expected {:?}",
            raw.dim(),
            (chunk.len(), c)
        );
        for (row, &image) in raw.rows().into_iter().zip(chunk) {
            softmax_scaled_f64(row.iter().copied(), params.a, &mut probs);
            for &(neuron, rank) in &slots[image] {
                let p = p_in_examples[rank];
                for (acc, &prob) in log_p_d_given_e.row_mut(neuron).iter_mut().zip(&probs) {
                    *acc += (1.0 + p * (prob - 1.0) + min_prob).ln();
                }
            }
        }
        progress.advance(chunk.len() as u64);
    }

    // log P(concept): logsumexp over neurons minus log L.
    let log_l = (l as f64).ln();
    let mut out = Array2::<f32>::zeros((l, c));
    for (concept, column) in log_p_d_given_e.axis_iter(Axis(1)).enumerate() {
        let max = column.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = column.iter().map(|v| (v - max).exp()).sum();
        let prob_d = max + sum.ln() - log_l;
        for (neuron, &v) in column.iter().enumerate() {
            out[[neuron, concept]] = (v - params.lam * prob_d) as f32;
        }
    }
    Ok(out)
}

/// One neuron's best concept: its index and its WPMI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestConcept {
    pub concept: usize,
    pub similarity: f32,
}

/// Per neuron: the best concept and its WPMI (`torch.max(similarities, dim=1)`; ties: the first concept).
pub fn best_concepts(similarity: ArrayView2<f32>) -> Vec<BestConcept> {
    similarity
        .rows()
        .into_iter()
        .map(|row| {
            let (concept, similarity) =
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 {
                            (i, v)
                        } else {
                            best
                        }
                    });
            BestConcept {
                concept,
                similarity,
            }
        })
        .collect()
}

/// Per neuron, its `k` best concepts, best first (`torch.topk(similarities[unit], k)`; ties: the lower index
/// first, as [`best_concepts`]).
pub fn top_concepts(similarity: ArrayView2<f32>, k: usize) -> Vec<Vec<BestConcept>> {
    if k == 0 {
        return vec![Vec::new(); similarity.nrows()];
    }
    similarity
        .rows()
        .into_iter()
        .map(|row| {
            let mut ranked: Vec<BestConcept> = row
                .iter()
                .enumerate()
                .map(|(concept, &similarity)| BestConcept {
                    concept,
                    similarity,
                })
                .collect();
            ranked.sort_by(|a, b| {
                b.similarity
                    .total_cmp(&a.similarity)
                    .then(a.concept.cmp(&b.concept))
            });
            ranked.truncate(k);
            ranked
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use ndarray::array;

    #[test]
    fn top_k_orders_by_activation_then_index() {
        let acts = array![[1.0f32, 0.0], [3.0, 0.0], [2.0, 5.0]];
        let top = top_k_images(acts.view(), 2).unwrap();
        assert_eq!(top, array![[1usize, 2], [2, 0]]);
        assert!(top_k_images(acts.view(), 4).is_err());
    }

    #[test]
    fn top_concepts_rank_best_first_and_agree_with_the_best() {
        let sim = array![[0.1f32, 0.9, 0.5, 0.9], [3.0, -1.0, 2.0, 1.0]];
        let top = top_concepts(sim.view(), 3);
        let ids: Vec<Vec<usize>> = top
            .iter()
            .map(|r| r.iter().map(|c| c.concept).collect())
            .collect();
        assert_eq!(ids, vec![vec![1, 3, 2], vec![0, 2, 3]]);
        let best = best_concepts(sim.view());
        assert_eq!(best[0], top[0][0]);
        assert_eq!(best[1], top[1][0]);
    }

    #[test]
    fn single_neuron_has_zero_wpmi_when_lambda_is_one() {
        // With one neuron, log P(concept) equals log P(concept | neuron): the WPMI is 0 everywhere.
        let scores = array![[0.3f32, 0.1, 0.2], [0.0, 0.5, 0.1]];
        let acts = array![[1.0f32], [2.0]];
        let params = SoftWpmiParams {
            top_k: 2,
            ..Default::default()
        };
        let wpmi = soft_wpmi(&scores, acts.view(), &params, &Silent).unwrap();
        assert!(wpmi.iter().all(|v| v.abs() < 1e-5), "{wpmi:?}");
    }
}
