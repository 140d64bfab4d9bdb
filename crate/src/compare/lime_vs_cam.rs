//! LIME against the CAMs on one image: the one place that turns a LIME explanation into the mask and
//! per-pixel weights the agreement figures compare, used by `glassbox explain`, `glassbox compare`, the
//! explain page and the report alike.

use anyhow::{Context, Result};
use ndarray::{Array2, ArrayView2};

use super::agreement::{agreement, threshold_mask, Agreement};
use crate::cam::CamMethod;
use crate::lime::LimeExplanation;
use crate::numerics::iou;
use serde::{Deserialize, Serialize};

/// The CAM threshold of the third IoU ("CAM ≥ 0.5"), unless a caller asks for another.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Every CAM of one image against LIME's explanation of the same class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementSet {
    /// The class both explain.
    pub class: usize,
    /// The CAM threshold of `iou_at_threshold`.
    pub threshold: f32,
    /// LIME stopped early: its surrogate saw fewer samples than asked for.
    pub lime_partial: bool,
    pub cams: Vec<CamAgreement>,
}

/// One CAM against LIME.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CamAgreement {
    pub method: CamMethod,
    pub agreement: Agreement,
    /// IoU with the LIME mask of the CAM's pixels ≥ the set's threshold.
    pub iou_at_threshold: Option<f64>,
}

/// LIME's side of the comparison for one class.
#[derive(Debug, Clone)]
pub struct LimeMaps {
    pub class: usize,
    /// `get_image_and_mask(class, positive_only=True, num_features=mask_features, hide_rest=False)`'s mask.
    pub mask: Array2<bool>,
    /// Every pixel carries its superpixel's weight for the class (0 for superpixels the surrogate did
    /// not select).
    pub weights: Array2<f32>,
    /// The surrogate saw fewer samples than asked for (a cancelled run).
    pub partial: bool,
}

impl LimeMaps {
    /// The mask and weights of `class`, which LIME must have explained.
    pub fn of(lime: &LimeExplanation, class: usize) -> Result<LimeMaps> {
        let mask = lime.mask_for(class).with_context(|| {
            format!(
                "LIME explained the classes {:?}, not class {class}",
                lime.top_labels
            )
        })?;
        let dense = lime.dense_weights(class).expect("mask_for found the class");
        Ok(LimeMaps {
            class,
            mask: mask.mapv(|v| v > 0),
            weights: lime.segments.mapv(|s| dense[s as usize] as f32),
            partial: lime.is_partial(),
        })
    }
}

/// One CAM's map (H×W, [0, 1], on LIME's grid).
#[derive(Debug, Clone, Copy)]
pub struct CamMap<'a> {
    pub method: CamMethod,
    pub map: ArrayView2<'a, f32>,
}

/// Every CAM against LIME, with the third IoU at `threshold`.
pub fn compare(cams: &[CamMap], lime: &LimeMaps, threshold: f32) -> Result<AgreementSet> {
    let cams = cams
        .iter()
        .map(|cam| {
            Ok(CamAgreement {
                method: cam.method,
                agreement: agreement(cam.map, lime.mask.view(), lime.weights.view())
                    .with_context(|| format!("{} against LIME", cam.method.name()))?,
                iou_at_threshold: iou(threshold_mask(cam.map, threshold).view(), lime.mask.view())?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(AgreementSet {
        class: lime.class,
        threshold,
        lime_partial: lime.partial,
        cams,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lime::{LimeFit, LocalExplanation};

    /// A 4×4 image in four 2×2 superpixels; class 7 weighs superpixel 1 most, 3 against.
    fn lime() -> LimeExplanation {
        let segments = Array2::from_shape_fn((4, 4), |(r, c)| (2 * (r / 2) + c / 2) as i32);
        let explanation: LocalExplanation = serde_json::from_value(serde_json::json!({
            "label": 7, "intercept": 0.0, "weights": [[1, 0.9], [0, 0.2], [3, -0.5]],
            "score": 0.5, "local_pred": 0.4, "used_features": [1, 0, 3]
        }))
        .unwrap();
        let fit: LimeFit = serde_json::from_value(serde_json::json!({
            "n_segments": 4, "top_labels": [7], "probabilities": [], "explanations": [explanation],
            "mask_features": 1, "samples_used": 10, "samples_requested": 10,
            "timing": {"segmentation_ms": 0.0, "perturbation_ms": 0.0, "inference_ms": 0.0, "regression_ms": 0.0}
        }))
        .unwrap();
        LimeExplanation::from_fit(fit, segments).unwrap()
    }

    #[test]
    fn lime_maps_hold_the_top_superpixels_and_every_pixels_weight() {
        let maps = LimeMaps::of(&lime(), 7).unwrap();
        // mask_features = 1: only superpixel 1 (top right).
        assert_eq!(maps.mask.iter().filter(|&&m| m).count(), 4);
        assert!(maps.mask[(0, 2)] && maps.mask[(1, 3)] && !maps.mask[(0, 0)]);
        assert_eq!(maps.weights[(0, 0)], 0.2);
        assert_eq!(maps.weights[(3, 3)], -0.5);
        assert_eq!(maps.weights[(2, 0)], 0.0, "superpixel 2 was not selected");
        assert!(!maps.partial);
        assert!(LimeMaps::of(&lime(), 3).is_err());
    }

    #[test]
    fn a_cam_on_the_lime_superpixel_agrees_fully_and_the_threshold_moves_its_iou() {
        let maps = LimeMaps::of(&lime(), 7).unwrap();
        // High on superpixel 1, 0.6 on superpixel 0, low elsewhere.
        let cam = Array2::from_shape_fn((4, 4), |(r, c)| match (r / 2, c / 2) {
            (0, 1) => 1.0f32,
            (0, 0) => 0.6,
            _ => 0.1,
        });
        let set = compare(
            &[CamMap {
                method: CamMethod::GradCam,
                map: cam.view(),
            }],
            &maps,
            0.8,
        )
        .unwrap();
        let a = &set.cams[0];
        assert_eq!(a.agreement.iou_same_count, Some(1.0));
        assert!(a.agreement.pointing_hit);
        // ≥ 0.5 takes superpixels 0 and 1: IoU 4 / 8; ≥ 0.8 only superpixel 1: IoU 1.
        assert_eq!(a.agreement.iou_half, Some(0.5));
        assert_eq!(a.iou_at_threshold, Some(1.0));
        assert_eq!(set.class, 7);
        assert_eq!(set.threshold, 0.8);
    }
}
