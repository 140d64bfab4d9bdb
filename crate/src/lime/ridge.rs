//! LIME's local surrogate: `lime_base.LimeBase.explain_instance_with_data` with scikit-learn's
//! weighted `Ridge` (dense X, `solver="auto"` → Cholesky on the normal equations).
//!
//! scikit-learn's weighted ridge, as implemented in `Ridge.fit`:
//! - `X_offset = Σ wᵢ xᵢ / Σ wᵢ`, `y_offset` likewise; `X ← X − X_offset`, `y ← y − y_offset`;
//! - rows scaled by `√wᵢ`; `(XᵀX + αI) β = Xᵀy` solved by nalgebra's Cholesky (falling back to a
//!   least-squares solve by its symmetric eigen-decomposition when the matrix is singular, as scikit-learn
//!   falls back to SVD);
//! - `intercept = y_offset − X_offset·β`;
//! - `score` is the weighted R² `1 − Σ w (y − ŷ)² / Σ w (y − ȳ_w)²`.

use nalgebra::{Cholesky, DMatrix, DVector, SymmetricEigen};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// A fitted weighted ridge regression.
#[derive(Debug, Clone)]
pub struct RidgeFit {
    pub coef: Array1<f64>,
    pub intercept: f64,
}

impl RidgeFit {
    pub fn predict_row(&self, x: ArrayView1<f64>) -> f64 {
        self.intercept + x.dot(&self.coef)
    }
}

/// `Ridge(alpha, fit_intercept=True).fit(x, y, sample_weight=w)`.
pub fn fit_ridge(
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    w: ArrayView1<f64>,
    alpha: f64,
) -> RidgeFit {
    let (n, p) = x.dim();
    let w_sum: f64 = w.sum();
    let x_offset: Array1<f64> = x.t().dot(&w) / w_sum;
    let y_offset = y.dot(&w) / w_sum;
    let sqrt_w = w.mapv(f64::sqrt);
    let mut xs = Array2::<f64>::zeros((n, p));
    let mut ys = Array1::<f64>::zeros(n);
    for i in 0..n {
        for j in 0..p {
            xs[[i, j]] = (x[[i, j]] - x_offset[j]) * sqrt_w[i];
        }
        ys[i] = (y[i] - y_offset) * sqrt_w[i];
    }
    let mut gram = xs.t().dot(&xs);
    for j in 0..p {
        gram[[j, j]] += alpha;
    }
    let xty = xs.t().dot(&ys);
    let coef = cholesky_solve(&gram, &xty).unwrap_or_else(|| least_squares(&xs, &ys, alpha));
    let intercept = y_offset - x_offset.dot(&coef);
    RidgeFit { coef, intercept }
}

/// Weighted R² of a fit (`Ridge.score(x, y, sample_weight=w)`, scikit-learn's `r2_score`).
pub fn weighted_r2(
    fit: &RidgeFit,
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    w: ArrayView1<f64>,
) -> f64 {
    let y_mean = y.dot(&w) / w.sum();
    let mut residual = 0.0;
    let mut total = 0.0;
    for (i, row) in x.axis_iter(Axis(0)).enumerate() {
        let e = y[i] - fit.predict_row(row);
        residual += w[i] * e * e;
        let d = y[i] - y_mean;
        total += w[i] * d * d;
    }
    if total == 0.0 {
        // scikit-learn's force_finite: a perfect fit of a constant scores 1, anything else 0.
        return if residual == 0.0 { 1.0 } else { 0.0 };
    }
    1.0 - residual / total
}

/// Solves `A x = b` for symmetric positive definite `A` by nalgebra's Cholesky; `None` when `A` is not
/// positive definite.
fn cholesky_solve(a: &Array2<f64>, b: &Array1<f64>) -> Option<Array1<f64>> {
    let cholesky = Cholesky::new(to_matrix(a))?;
    // nalgebra refuses only pivots that are not positive; one that lost all its digits (relative to its
    // diagonal entry) means a singular matrix too, which the least-squares fallback handles.
    let l = cholesky.l();
    let lost_digits = l
        .diagonal()
        .iter()
        .enumerate()
        .any(|(j, &ljj)| ljj * ljj <= a[[j, j]].abs() * 1e-13);
    if lost_digits {
        return None;
    }
    let x = cholesky.solve(&DVector::from_iterator(b.len(), b.iter().copied()));
    Some(x.iter().copied().collect())
}

/// Minimum-norm solution of the ridge problem through nalgebra's symmetric eigen-decomposition of
/// `XᵀX + αI` (what scikit-learn's SVD fallback computes), for singular systems (α = 0 with collinear columns).
fn least_squares(xs: &Array2<f64>, ys: &Array1<f64>, alpha: f64) -> Array1<f64> {
    let mut gram = xs.t().dot(xs);
    let p = gram.nrows();
    for j in 0..p {
        gram[[j, j]] += alpha;
    }
    let eigen = SymmetricEigen::new(to_matrix(&gram));
    let xty = xs.t().dot(ys);
    let largest = eigen.eigenvalues.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let cutoff = largest * 1e-12 * p as f64;
    let mut coef = Array1::<f64>::zeros(p);
    for (k, &value) in eigen.eigenvalues.iter().enumerate() {
        if value.abs() > cutoff {
            let v: Array1<f64> = eigen.eigenvectors.column(k).iter().copied().collect();
            let scale = v.dot(&xty) / value;
            coef.scaled_add(scale, &v);
        }
    }
    coef
}

/// An ndarray matrix as nalgebra's.
fn to_matrix(a: &Array2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

/// How LIME picks the features of its surrogate (`feature_selection` of `LimeImageExplainer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSelection {
    /// `forward_selection` when `num_features ≤ 6`, else `highest_weights` (LIME's default).
    Auto,
    /// Greedy forward selection by weighted R² of an unregularised fit.
    ForwardSelection,
    /// The `num_features` largest |coef × x₀| of a `Ridge(alpha=0.01)` on all features.
    HighestWeights,
    /// All features, in index order.
    None,
}

/// One superpixel's surrogate weight. Serialised as lime's `local_exp` writes it, a `[feature, weight]`
/// pair (the format of `explanation.json`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "(usize, f64)", into = "(usize, f64)")]
pub struct FeatureWeight {
    pub feature: usize,
    pub weight: f64,
}

impl From<(usize, f64)> for FeatureWeight {
    fn from((feature, weight): (usize, f64)) -> Self {
        FeatureWeight { feature, weight }
    }
}

impl From<FeatureWeight> for (usize, f64) {
    fn from(w: FeatureWeight) -> Self {
        (w.feature, w.weight)
    }
}

/// LIME's local explanation of one label.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LocalExplanation {
    pub label: usize,
    pub intercept: f64,
    /// The selected superpixels' weights sorted by |weight|, largest first (LIME's `local_exp[label]`).
    pub weights: Vec<FeatureWeight>,
    /// Weighted R² of the surrogate on the samples.
    pub score: f64,
    /// The surrogate's prediction for the unperturbed image (first sample).
    pub local_pred: f64,
    /// The features the surrogate was fitted on, in selection order.
    pub used_features: Vec<usize>,
}

/// LIME's kernel over cosine distances to the first sample: `√exp(−d²/width²)`.
pub fn kernel_weights(data: ArrayView2<u8>, kernel_width: f64) -> Array1<f64> {
    let reference = data.row(0);
    let reference_norm = reference
        .iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum::<f64>()
        .sqrt();
    data.axis_iter(Axis(0))
        .map(|row| {
            // sklearn's cosine_distances: rows L2-normalised (zero rows stay zero), 1 − dot, clipped to [0, 2].
            let norm = row
                .iter()
                .map(|&v| (v as f64) * (v as f64))
                .sum::<f64>()
                .sqrt();
            let similarity = if norm == 0.0 || reference_norm == 0.0 {
                0.0
            } else {
                row.iter()
                    .zip(reference.iter())
                    .map(|(&a, &b)| (a as f64 / norm) * (b as f64 / reference_norm))
                    .sum::<f64>()
            };
            let d = (1.0 - similarity).clamp(0.0, 2.0);
            (-(d * d) / (kernel_width * kernel_width)).exp().sqrt()
        })
        .collect()
}

fn select_features(
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    w: ArrayView1<f64>,
    num_features: usize,
    method: FeatureSelection,
) -> Vec<usize> {
    let p = x.ncols();
    match method {
        FeatureSelection::None => (0..p).collect(),
        FeatureSelection::Auto if num_features <= 6 => {
            select_features(x, y, w, num_features, FeatureSelection::ForwardSelection)
        }
        FeatureSelection::Auto => {
            select_features(x, y, w, num_features, FeatureSelection::HighestWeights)
        }
        FeatureSelection::HighestWeights => {
            let fit = fit_ridge(x, y, w, 0.01);
            let first = x.row(0);
            let mut order: Vec<(usize, f64)> =
                (0..p).map(|j| (j, fit.coef[j] * first[j])).collect();
            // Python's sorted(..., reverse=True) is stable: equal magnitudes keep index order.
            order.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            order
                .into_iter()
                .take(num_features)
                .map(|(j, _)| j)
                .collect()
        }
        FeatureSelection::ForwardSelection => {
            let mut used: Vec<usize> = Vec::new();
            for _ in 0..num_features.min(p) {
                let mut best = 0;
                let mut best_score = -100_000_000.0;
                for feature in 0..p {
                    if used.contains(&feature) {
                        continue;
                    }
                    let mut columns = used.clone();
                    columns.push(feature);
                    let sub = x.select(Axis(1), &columns);
                    let fit = fit_ridge(sub.view(), y, w, 0.0);
                    let score = weighted_r2(&fit, sub.view(), y, w);
                    if score > best_score {
                        best = feature;
                        best_score = score;
                    }
                }
                used.push(best);
            }
            used
        }
    }
}

/// `LimeBase.explain_instance_with_data` for one label: `data` is the binary sample matrix
/// (first row = the unperturbed image), `targets` the model's probability of `label` per sample.
pub fn explain_label(
    data: ArrayView2<u8>,
    targets: ArrayView1<f64>,
    weights: ArrayView1<f64>,
    label: usize,
    num_features: usize,
    method: FeatureSelection,
) -> LocalExplanation {
    let x = data.mapv(|v| v as f64);
    let used = select_features(x.view(), targets, weights, num_features, method);
    let sub = x.select(Axis(1), &used);
    let fit = fit_ridge(sub.view(), targets, weights, 1.0);
    let score = weighted_r2(&fit, sub.view(), targets, weights);
    let local_pred = fit.predict_row(sub.row(0));
    let mut ranked: Vec<FeatureWeight> = used
        .iter()
        .zip(fit.coef.iter())
        .map(|(&feature, &weight)| FeatureWeight { feature, weight })
        .collect();
    ranked.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
    LocalExplanation {
        label,
        intercept: fit.intercept,
        weights: ranked,
        score,
        local_pred,
        used_features: used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn ridge_recovers_exact_linear_model_with_tiny_alpha() {
        let x = array![[0., 1.], [1., 0.], [1., 1.], [0., 0.], [2., 1.]];
        let y = x.column(0).mapv(|a| 3.0 * a) + x.column(1).mapv(|b| -2.0 * b) + 0.5;
        let w = array![1.0, 2.0, 0.5, 1.0, 3.0];
        let fit = fit_ridge(x.view(), y.view(), w.view(), 1e-12);
        assert!((fit.coef[0] - 3.0).abs() < 1e-9 && (fit.coef[1] + 2.0).abs() < 1e-9);
        assert!((fit.intercept - 0.5).abs() < 1e-9);
        assert!((weighted_r2(&fit, x.view(), y.view(), w.view()) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn singular_system_falls_back_to_minimum_norm() {
        // Two identical columns, alpha 0: minimum-norm solution splits the weight equally.
        let x = array![[0., 0.], [1., 1.], [2., 2.], [3., 3.]];
        let y = array![1.0, 3.0, 5.0, 7.0];
        let w = array![1.0, 1.0, 1.0, 1.0];
        let fit = fit_ridge(x.view(), y.view(), w.view(), 0.0);
        assert!((fit.coef[0] - 1.0).abs() < 1e-9 && (fit.coef[1] - 1.0).abs() < 1e-9);
        assert!((fit.intercept - 1.0).abs() < 1e-9);
    }
}
