//! The dissection pipeline: one streaming pass over the probe set (pooled activations of the target's layers and
//! the matcher's image embeddings, each image decoded once, both cached on disk), then `soft_wpmi` per layer.

use anyhow::{ensure, Context, Result};
use ndarray::{concatenate, Array2, Array4, Axis};
use web_time::Instant;

use super::cache::{cache_key, MatrixCache};
use super::matcher::ConceptMatcher;
use super::probe::{pool_layer, ProbeSet};
use super::tables::{
    DissectionTable, ModelRecord, ProbeRecord, RankedConcept, TopImage, UnitLabel,
};
use super::wpmi::{
    best_concepts, soft_wpmi, top_concepts, top_k_images, BestConcept, SoftWpmiParams,
};
use super::ConceptSet;
use crate::engine::{self, Engine, Tensor};
use crate::preprocess::Preprocessing;
use crate::progress::{check_cancelled, Progress};

/// The network being dissected: an engine whose outputs include the layers to label.
pub struct TargetModel {
    pub record: ModelRecord,
    pub engine: Box<dyn Engine>,
    pub preprocessing: Preprocessing,
    /// Graph output names to dissect (4-D maps are mean-pooled over H,W).
    pub layers: Vec<String>,
    /// Outputs pooled and cached in the same pass over the probe set but not labelled: a later job on the same
    /// model and probe set (another concept set, another layer) then reads them instead of running the model
    /// over every probe image again.
    pub also_cached: Vec<String>,
}

/// Knobs of a run.
#[derive(Debug, Clone)]
pub struct DissectOptions {
    pub params: SoftWpmiParams,
    /// Top images per unit written to the tables.
    pub top_images: usize,
    /// Probe images decoded and held at once.
    pub chunk: usize,
    pub cache: Option<MatrixCache>,
    /// Best concepts kept per unit (`UnitLabel::top_concepts`; 0: none), for the replicated tables' top-k.
    pub top_concepts: usize,
}

impl Default for DissectOptions {
    fn default() -> Self {
        Self {
            params: SoftWpmiParams::default(),
            top_images: 5,
            chunk: 64,
            cache: None,
            top_concepts: 0,
        }
    }
}

/// Wall-clock seconds of each phase (zero for a phase served from the cache).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub images_processed: usize,
    pub decode_s: f64,
    pub target_s: f64,
    pub matcher_s: f64,
    pub wpmi_s: f64,
}

impl Timings {
    /// Images per second of a phase that took `seconds`, or "cached" when the phase was skipped.
    pub fn rate(&self, seconds: f64) -> String {
        if self.images_processed == 0 || seconds == 0.0 {
            "cached".into()
        } else {
            format!("{:.2} img/s", self.images_processed as f64 / seconds)
        }
    }
}

/// Tables of every requested layer, plus timings.
pub struct DissectionRun {
    pub tables: Vec<DissectionTable>,
    pub timings: Timings,
}

/// Probe images per cache shard (a few MB of activations and embeddings each).
const SHARD: usize = 2048;

/// One shard of the probe set: its cache keys and what the cache or the pass gave.
struct Shard {
    range: std::ops::Range<usize>,
    layer_keys: Vec<String>,
    matcher_key: String,
    activations: Vec<Option<Array2<f32>>>,
    embeddings: Option<Array2<f32>>,
}

impl Shard {
    fn incomplete(&self) -> bool {
        self.embeddings.is_none() || self.activations.iter().any(Option::is_none)
    }
}

/// Runs CLIP-Dissect on `target`'s layers with `matcher` over `probe`.
pub async fn dissect(
    target: &TargetModel,
    matcher: &dyn ConceptMatcher,
    concept_set: &ConceptSet,
    probe: &ProbeSet,
    options: &DissectOptions,
    progress: &dyn Progress,
) -> Result<DissectionRun> {
    ensure!(!target.layers.is_empty(), "no layers to dissect");
    ensure!(
        matcher.concepts() == concept_set.concepts.as_slice(),
        "the matcher's concepts are not the concept set `{}`",
        concept_set.name
    );
    // The labelled layers first, then the ones only cached.
    let pooled: Vec<&String> = target.layers.iter().chain(&target.also_cached).collect();
    let layer_outputs: Vec<usize> = pooled
        .iter()
        .map(|layer| {
            target
                .engine
                .output_names()
                .iter()
                .position(|o| o == *layer)
                .with_context(|| {
                    format!(
                        "the target graph has no output `{layer}` (outputs: {:?})",
                        target.engine.output_names()
                    )
                })
        })
        .collect::<Result<_>>()?;

    let preprocessing_json = serde_json::to_string(&target.preprocessing)?;
    let lookup = |kind: &str, key: &str| -> Result<Option<Array2<f32>>> {
        match &options.cache {
            Some(c) => c.load(kind, key),
            None => Ok(None),
        }
    };
    // The probe set in shards, each cached on its own: a run stopped mid-way (a lost runner, a cancel)
    // resumes from the last shard it finished.
    let mut shards = Vec::new();
    for start in (0..probe.len()).step_by(SHARD) {
        let range = start..(start + SHARD).min(probe.len());
        let span = format!("{}..{}", range.start, range.end);
        let layer_keys: Vec<String> = pooled
            .iter()
            .map(|layer| {
                cache_key(&[
                    b"activations-avgpool-v2",
                    target.record.sha256.as_bytes(),
                    probe.fingerprint.as_bytes(),
                    layer.as_bytes(),
                    preprocessing_json.as_bytes(),
                    span.as_bytes(),
                ])
            })
            .collect();
        let matcher_key = cache_key(&[
            b"matcher-images-v2",
            matcher.image_cache_id().as_bytes(),
            probe.fingerprint.as_bytes(),
            span.as_bytes(),
        ]);
        let activations: Vec<Option<Array2<f32>>> = layer_keys
            .iter()
            .map(|k| lookup("activations", k))
            .collect::<Result<_>>()?;
        let embeddings = lookup("matcher", &matcher_key)?;
        shards.push(Shard {
            range,
            layer_keys,
            matcher_key,
            activations,
            embeddings,
        });
    }

    let mut timings = Timings::default();
    let to_compute: usize = shards
        .iter()
        .filter(|s| s.incomplete())
        .map(|s| s.range.len())
        .sum();
    if to_compute > 0 {
        progress.stage("probe images", to_compute as u64);
    }
    for shard in shards.iter_mut().filter(|s| s.incomplete()) {
        let missing_layers: Vec<usize> = (0..shard.activations.len())
            .filter(|&i| shard.activations[i].is_none())
            .collect();
        let (acts, emb) = stream_probe(
            target,
            &pooled,
            &layer_outputs,
            &missing_layers,
            shard.embeddings.is_none().then_some(matcher),
            &probe.part(shard.range.clone()),
            options.chunk,
            &mut timings,
            progress,
        )
        .await?;
        for (slot, m) in missing_layers.iter().zip(acts) {
            if let Some(c) = &options.cache {
                c.store("activations", &shard.layer_keys[*slot], &m)?;
            }
            shard.activations[*slot] = Some(m);
        }
        if let Some(e) = emb {
            if let Some(c) = &options.cache {
                c.store("matcher", &shard.matcher_key, &e)?;
            }
            shard.embeddings = Some(e);
        }
    }
    let stack = |parts: Vec<&Array2<f32>>| -> Result<Array2<f32>> {
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        Ok(concatenate(Axis(0), &views)?)
    };
    // Every shard is complete here: each slot was either read from the cache or computed above.
    let activations: Vec<Array2<f32>> = (0..pooled.len())
        .map(|layer| {
            stack(
                shards
                    .iter()
                    .map(|s| s.activations[layer].as_ref().expect("computed above"))
                    .collect(),
            )
        })
        .collect::<Result<_>>()?;
    let embeddings = stack(
        shards
            .iter()
            .map(|s| s.embeddings.as_ref().expect("computed above"))
            .collect(),
    )?;
    ensure!(
        embeddings.nrows() == probe.len(),
        "{} image embeddings for {} probe images",
        embeddings.nrows(),
        probe.len()
    );
    let scores = matcher.scores(embeddings, options.params.a)?;

    let started = Instant::now();
    let mut tables = Vec::new();
    for (layer, acts) in target.layers.iter().zip(activations) {
        check_cancelled(progress)?;
        let similarity = soft_wpmi(scores.as_ref(), acts.view(), &options.params, progress)
            .with_context(|| format!("labelling layer `{layer}`"))?;
        let top = top_k_images(acts.view(), options.top_images.min(probe.len()))?;
        let mut ranked = top_concepts(similarity.view(), options.top_concepts).into_iter();
        let units = best_concepts(similarity.view())
            .into_iter()
            .enumerate()
            .map(
                |(
                    unit,
                    BestConcept {
                        concept,
                        similarity,
                    },
                )| UnitLabel {
                    unit,
                    concept: concept_set.concepts[concept].clone(),
                    concept_index: concept,
                    category: concept_set
                        .categories
                        .as_ref()
                        .and_then(|c| c[concept].clone()),
                    similarity,
                    top_images: top
                        .column(unit)
                        .iter()
                        .map(|&i| TopImage {
                            id: probe.images[i].id.clone(),
                            activation: acts[[i, unit]],
                        })
                        .collect(),
                    top_concepts: ranked
                        .next()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| RankedConcept {
                            concept_index: c.concept,
                            similarity: c.similarity,
                        })
                        .collect(),
                },
            )
            .collect();
        tables.push(DissectionTable {
            model: target.record.clone(),
            layer: layer.clone(),
            probe: ProbeRecord {
                folder: probe.root.file_name().map_or_else(
                    || probe.root.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                n_images: probe.len(),
                fingerprint: probe.fingerprint.clone(),
                description: probe.description.clone(),
                subset: probe.subset.clone(),
            },
            concept_set: concept_set.record(),
            matcher: matcher.info(),
            similarity_fn: "soft_wpmi".into(),
            params: options.params,
            units,
            published: None,
            replication: None,
        });
    }
    timings.wpmi_s = started.elapsed().as_secs_f64();
    Ok(DissectionRun { tables, timings })
}

/// One pass over the probe set: pooled activations of `layers` (indices into `pooled` and `layer_outputs`) and, when asked,
/// the matcher's image embeddings. Each image is decoded once and dropped after its chunk.
#[allow(clippy::too_many_arguments)]
async fn stream_probe(
    target: &TargetModel,
    pooled: &[&String],
    layer_outputs: &[usize],
    layers: &[usize],
    matcher: Option<&dyn ConceptMatcher>,
    probe: &ProbeSet,
    chunk: usize,
    timings: &mut Timings,
    progress: &dyn Progress,
) -> Result<(Vec<Array2<f32>>, Option<Array2<f32>>)> {
    let limits = crate::preprocess::ImageLimits::default();
    let mut acts: Vec<Vec<Array2<f32>>> = vec![Vec::new(); layers.len()];
    let mut emb = Vec::new();
    let chunk = chunk.max(1);
    for start in (0..probe.len()).step_by(chunk) {
        check_cancelled(progress)?;
        let range = start..(start + chunk).min(probe.len());
        let t = Instant::now();
        let images = range
            .clone()
            .map(|i| {
                crate::preprocess::load(&probe.path(i), &limits)
                    .with_context(|| format!("probe image {}", probe.images[i].id))
            })
            .collect::<Result<Vec<_>>>()?;
        timings.decode_s += t.elapsed().as_secs_f64();

        if !layers.is_empty() {
            let t = Instant::now();
            let spec = &target.preprocessing;
            let tensors: Vec<_> = images
                .iter()
                .map(|img| {
                    crate::preprocess::to_tensor(&crate::preprocess::model_view(img, spec), spec)
                })
                .collect();
            let (c, h, w) = tensors[0].dim();
            engine::run_chunked(
                target.engine.as_ref(),
                tensors.len(),
                &crate::progress::Silent,
                |r| {
                    let mut batch = Array4::zeros((r.len(), c, h, w));
                    for (row, i) in r.enumerate() {
                        batch.index_axis_mut(Axis(0), row).assign(&tensors[i]);
                    }
                    Ok(Tensor::F32(batch.into_dyn()))
                },
                |_, mut outputs| {
                    for (slot, &layer) in layers.iter().enumerate() {
                        let name = pooled[layer];
                        let out = std::mem::take(&mut outputs[layer_outputs[layer]]);
                        acts[slot].push(pool_layer(out, name)?);
                    }
                    Ok(())
                },
            )
            .await?;
            timings.target_s += t.elapsed().as_secs_f64();
        }
        if let Some(m) = matcher {
            let t = Instant::now();
            emb.push(m.embed_images(&images).await?);
            timings.matcher_s += t.elapsed().as_secs_f64();
        }
        timings.images_processed += images.len();
        progress.advance(images.len() as u64);
    }
    let stack = |parts: &[Array2<f32>]| -> Result<Array2<f32>> {
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        Ok(concatenate(Axis(0), &views)?)
    };
    let acts = acts
        .iter()
        .map(|parts| stack(parts))
        .collect::<Result<Vec<_>>>()?;
    let emb = match matcher {
        Some(_) => Some(stack(&emb)?),
        None => None,
    };
    Ok((acts, emb))
}
