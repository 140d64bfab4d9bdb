//! A whole dissection run described as data (what the `dissect` CLI subcommand and the precompute example
//! build from their arguments): load the models, run [`super::dissect`], write the tables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::cache::MatrixCache;
use super::matcher::{ClassifierMatcher, ClipMatcher, ConceptMatcher};
use super::probe::ProbeSet;
use super::published::{self, PublishedLabels};
use super::replicate::{self, Protocol, TableNumbers};
use super::tables::{table_stem, DissectionTable, ModelRecord};
use super::tokenizer::ClipTokenizer;
use super::wpmi::SoftWpmiParams;
use super::{dissect, ConceptSet, DissectOptions, DissectionRun, TargetModel};
use crate::engine::{self, EngineKind};
use crate::files::{resolve_relative, sha256_hex};
use crate::model::ManifestFile;
use crate::preprocess::Preprocessing;
use crate::progress::Progress;

/// The network to dissect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetSpec {
    /// Display name (e.g. `resnet18_imagenet`).
    pub name: String,
    /// A model manifest (`.json`, its preprocessing is used) or an ONNX file (then `preprocessing` is required).
    pub path: PathBuf,
    #[serde(default)]
    pub preprocessing: Option<Preprocessing>,
    /// What the weights are; recorded in every table ("RANDOM" for random-weight graphs).
    pub weights: String,
    /// Graph outputs to label.
    pub layers: Vec<String>,
    /// Graph outputs only pooled and cached in the same pass, for a later job (see `TargetModel::also_cached`).
    #[serde(default)]
    pub also_cached: Vec<String>,
}

/// The concept matcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatcherSpec {
    /// CLIP image + text encoders (`models/export.py`), with the BPE vocabulary.
    Clip {
        name: String,
        image_onnx: PathBuf,
        text_onnx: PathBuf,
        bpe_vocab: PathBuf,
    },
    /// A classifier's class probabilities; concept `k` is logit `k + class_offset` (1 for background-first
    /// 1001-way TF-slim models).
    Classifier {
        name: String,
        path: PathBuf,
        preprocessing: Option<Preprocessing>,
        logits_output: String,
        class_offset: usize,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DissectJob {
    pub target: TargetSpec,
    pub matcher: MatcherSpec,
    pub probe_dir: PathBuf,
    /// What the probe set is, recorded in every table (`Broden 1.0, 224 px …`).
    #[serde(default)]
    pub probe_name: Option<String>,
    /// Use every k-th probe image only (`ImageFolder` order), a subset spread over every source of the set.
    #[serde(default)]
    pub probe_every: Option<usize>,
    /// Use only the first `max_images` probe images (after `probe_every`).
    #[serde(default)]
    pub max_images: Option<usize>,
    pub concept_set: PathBuf,
    #[serde(default)]
    pub params: SoftWpmiParams,
    #[serde(default = "default_top_images")]
    pub top_images: usize,
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Batch size for dynamic-batch graphs.
    #[serde(default)]
    pub batch: Option<usize>,
    /// Labels published for the same model (CLIP-Dissect's CSV): every table records its agreement with them.
    #[serde(default)]
    pub published: Option<PublishedSpec>,
    /// One of CLIP-Dissect's own tables to replicate on a layer of this job.
    #[serde(default)]
    pub replicate: Option<ReplicateSpec>,
}

/// A table of the CLIP-Dissect paper replicated on the final layer (see [`replicate`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicateSpec {
    pub protocol: Protocol,
    /// The layer whose neurons are the classes (the graph output of the `fc` layer).
    pub layer: String,
    /// The class names, one line per neuron: `categories_places365.txt` (Table 2), `imagenet_labels.txt` (Table 3).
    pub classes: PathBuf,
    /// Broden's `c_scene.csv` (Table 2's truth).
    #[serde(default)]
    pub broden_scenes: Option<PathBuf>,
    /// The notebook and its setting.
    pub source: String,
    /// The probe set of the published numbers.
    pub published_probe: String,
    pub published: TableNumbers,
}

/// Published labels to compare with (needs the CLIP matcher: the comparison uses its text encoder).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedSpec {
    /// `layer,unit,description,similarity` (CLIP-Dissect's `data/CLIP_Dissect_results/*.csv`).
    pub csv: PathBuf,
    /// What they are: model, concept set, probe set, source.
    pub description: String,
}

fn default_top_images() -> usize {
    5
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

impl DissectJob {
    /// Reads a job file; relative paths in it are relative to the file's folder, so committed jobs
    /// (`precomputed/dissect/jobs/`) work from any working directory and on any machine.
    pub fn from_file(path: &Path) -> Result<DissectJob> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the dissection job {}", path.display()))?;
        Self::from_json(&text, path.parent().unwrap_or(Path::new(".")))
            .with_context(|| format!("the job {} is not a valid DissectJob", path.display()))
    }

    /// Parses a job's JSON text; relative paths become relative to `base` (the job file's folder).
    pub fn from_json(text: &str, base: &Path) -> Result<DissectJob> {
        let mut job: DissectJob = serde_json::from_str(text)?;
        // A bare ONNX file's preprocessing is checked here; a manifest's is checked when it is read.
        let explicit = match &job.matcher {
            MatcherSpec::Classifier { preprocessing, .. } => preprocessing.as_ref(),
            MatcherSpec::Clip { .. } => None,
        };
        for spec in job.target.preprocessing.iter().chain(explicit) {
            spec.validate()?;
        }
        // Relative to the job file; `…/shared/data/…` honours `$GLASSBOX_SHARED`, as in model manifests.
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = resolve_relative(base, p);
            }
        };
        resolve(&mut job.target.path);
        match &mut job.matcher {
            MatcherSpec::Clip {
                image_onnx,
                text_onnx,
                bpe_vocab,
                ..
            } => {
                resolve(image_onnx);
                resolve(text_onnx);
                resolve(bpe_vocab);
            }
            MatcherSpec::Classifier { path, .. } => resolve(path),
        }
        resolve(&mut job.probe_dir);
        resolve(&mut job.concept_set);
        if let Some(published) = &mut job.published {
            resolve(&mut published.csv);
        }
        if let Some(spec) = &mut job.replicate {
            resolve(&mut spec.classes);
            if let Some(scenes) = &mut spec.broden_scenes {
                resolve(scenes);
            }
        }
        if let Some(cache) = &mut job.cache_dir {
            resolve(cache);
        }
        Ok(job)
    }
}

/// ONNX bytes and preprocessing from a model manifest (`.json`, read by [`ManifestFile`]: paths relative
/// to it, `$GLASSBOX_SHARED` honoured, sha256 checked when given), or a bare ONNX file plus an explicit
/// preprocessing. An explicit preprocessing overrides the manifest's.
fn load_graph(
    path: &Path,
    preprocessing: &Option<Preprocessing>,
    what: &str,
) -> Result<(Vec<u8>, Preprocessing, String)> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        let file = ManifestFile::read(path).with_context(|| format!("the {what} manifest"))?;
        let onnx = file.read_onnx()?;
        let onnx_file = file_name(&file.onnx_path());
        let spec = preprocessing.clone().unwrap_or(file.manifest.preprocessing);
        return Ok((onnx, spec, onnx_file));
    }
    let Some(spec) = preprocessing.clone() else {
        bail!(
            "the {what} {} is a bare ONNX file: give its preprocessing (or use a manifest .json)",
            path.display()
        )
    };
    Ok((read(path, what)?, spec, file_name(path)))
}

/// Runs the job; returns the tables (not yet written).
pub async fn run_job(
    job: &DissectJob,
    engine_kind: EngineKind,
    progress: &dyn Progress,
) -> Result<DissectionRun> {
    let concept_set = ConceptSet::from_path(&job.concept_set)?;
    let mut probe = ProbeSet::from_dir(&job.probe_dir)?;
    if let Some(k) = job.probe_every {
        probe = probe.every(k)?;
    }
    if let Some(n) = job.max_images {
        probe = probe.truncated(n);
    }
    probe.description = job.probe_name.clone().unwrap_or_default();
    let replication = job.replicate.as_ref().map(read_truth).transpose()?;

    let (target_onnx, target_pre, target_file) =
        load_graph(&job.target.path, &job.target.preprocessing, "target model")?;
    let target = TargetModel {
        record: ModelRecord {
            name: job.target.name.clone(),
            file: target_file,
            sha256: sha256_hex(&target_onnx),
            weights: job.target.weights.clone(),
        },
        engine: engine::create(engine_kind, &target_onnx, job.batch).await?,
        preprocessing: target_pre,
        layers: job.target.layers.clone(),
        also_cached: job.target.also_cached.clone(),
    };
    let cache = job.cache_dir.as_deref().map(MatrixCache::new).transpose()?;
    let published = job
        .published
        .as_ref()
        .map(|p| PublishedLabels::from_csv_path(&p.csv))
        .transpose()?;
    // The CLIP text encoder and the concepts' normalised embeddings, kept for the published comparison.
    let mut text_space = None;
    let matcher: Box<dyn ConceptMatcher> = match &job.matcher {
        MatcherSpec::Classifier {
            name,
            path,
            preprocessing,
            logits_output,
            class_offset,
        } => {
            let (onnx, pre, _) = load_graph(path, preprocessing, "matcher classifier")?;
            let engine = engine::create(engine_kind, &onnx, job.batch).await?;
            let classes = (0..concept_set.concepts.len())
                .map(|k| k + class_offset)
                .collect();
            Box::new(ClassifierMatcher::new(
                name,
                engine,
                &onnx,
                pre,
                logits_output,
                classes,
                concept_set.concepts.clone(),
            )?)
        }
        MatcherSpec::Clip {
            name,
            image_onnx,
            text_onnx,
            bpe_vocab,
        } => {
            let image_bytes = read(image_onnx, "CLIP image encoder")?;
            let text_bytes = read(text_onnx, "CLIP text encoder")?;
            let tokenizer = ClipTokenizer::from_path(bpe_vocab)?;
            let text_key = super::cache::cache_key(&[
                b"clip-text-v1",
                sha256_hex(&text_bytes).as_bytes(),
                concept_set.sha256.as_bytes(),
            ]);
            let cached = match &cache {
                Some(c) => c.load("clip-text", &text_key)?,
                None => None,
            };
            let text_engine = engine::create(engine_kind, &text_bytes, job.batch).await?;
            let texts = match cached {
                Some(t) => t,
                None => {
                    let t = ClipMatcher::encode_texts(
                        text_engine.as_ref(),
                        &tokenizer,
                        &concept_set.concepts,
                        progress,
                    )
                    .await?;
                    if let Some(c) = &cache {
                        c.store("clip-text", &text_key, &t)?;
                    }
                    t
                }
            };
            let image_engine = engine::create(engine_kind, &image_bytes, job.batch).await?;
            let matcher = ClipMatcher::new(
                name,
                image_engine,
                &image_bytes,
                text_engine.as_ref(),
                &text_bytes,
                &tokenizer,
                concept_set.concepts.clone(),
                Some(texts.clone()),
                progress,
            )
            .await?;
            text_space = Some(TextSpace {
                engine: text_engine,
                tokenizer,
                embeddings: texts,
            });
            Box::new(matcher)
        }
    };
    if (published.is_some() || replication.is_some()) && text_space.is_none() {
        bail!("comparing with published labels or tables needs the CLIP matcher (its text encoder measures label similarity)");
    }
    let options = DissectOptions {
        params: job.params,
        top_images: job.top_images,
        chunk: 64,
        cache,
        // Table 2 and 3 report top-5 accuracies.
        top_concepts: if replication.is_some() { 5 } else { 0 },
    };
    let mut run = dissect(
        &target,
        matcher.as_ref(),
        &concept_set,
        &probe,
        &options,
        progress,
    )
    .await?;
    let Some(space) = text_space else {
        return Ok(run);
    };
    // Every text compared: the published labels and the replicated tables' class names.
    let extra: Vec<&String> = published
        .iter()
        .flat_map(|p| p.labels())
        .chain(replication.iter().flat_map(|(_, t)| t.class_names.iter()))
        .collect();
    let embeddings = space
        .normalised_embeddings(&concept_set.concepts, extra.into_iter(), progress)
        .await?;
    let embedding = |label: &str| embeddings.get(label);
    for table in &mut run.tables {
        if let (Some(labels), Some(spec)) = (&published, &job.published) {
            table.published = published::compare(
                &table.labelled_layer(),
                labels,
                &spec.description,
                &embedding,
            )?;
        }
        if let Some((spec, truth)) = &replication {
            if table.layer == spec.layer {
                table.replication = Some(replicate::replicate(
                    &table.ranked_layer(),
                    &concept_set.concepts,
                    spec.protocol,
                    truth,
                    replicate::PublishedNumbers {
                        source: &spec.source,
                        probe: &spec.published_probe,
                        numbers: spec.published,
                    },
                    &embedding,
                )?);
            }
        }
    }
    if let Some((spec, _)) = &replication {
        ensure!(
            run.tables.iter().any(|t| t.replication.is_some()),
            "the job replicates `{}` on layer `{}`, which it does not dissect (layers: {:?})",
            spec.source,
            spec.layer,
            job.target.layers
        );
    }
    Ok(run)
}

/// A replication's spec with its truths read from the class list (and Broden's scenes).
fn read_truth(spec: &ReplicateSpec) -> Result<(ReplicateSpec, replicate::Truth)> {
    let classes = std::fs::read_to_string(&spec.classes)
        .with_context(|| format!("cannot read the class names {}", spec.classes.display()))?;
    let scenes = match &spec.broden_scenes {
        Some(path) => Some(replicate::broden_category_names(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read Broden's scenes {}", path.display()))?,
        )?),
        None => None,
    };
    let truth = spec.protocol.truth(&classes, scenes.as_deref())?;
    Ok((spec.clone(), truth))
}

/// CLIP's text side, to embed labels beyond the concept set.
struct TextSpace {
    engine: Box<dyn engine::Engine>,
    tokenizer: ClipTokenizer,
    /// Raw embeddings of the concept set, one row per concept.
    embeddings: ndarray::Array2<f32>,
}

impl TextSpace {
    /// L2-normalised embeddings of every concept and every extra label (encoded when not a concept).
    async fn normalised_embeddings<'a>(
        self,
        concepts: &[String],
        extra: impl Iterator<Item = &'a String>,
        progress: &dyn Progress,
    ) -> Result<LabelEmbeddings> {
        let mut index: HashMap<String, usize> = concepts
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let missing: Vec<String> = extra
            .filter(|l| !index.contains_key(*l))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut rows = self.embeddings;
        if !missing.is_empty() {
            let more = ClipMatcher::encode_texts(
                self.engine.as_ref(),
                &self.tokenizer,
                &missing,
                progress,
            )
            .await?;
            rows = ndarray::concatenate(ndarray::Axis(0), &[rows.view(), more.view()])?;
            index.extend(missing.into_iter().zip(concepts.len()..));
        }
        super::matcher::l2_normalize_rows(&mut rows);
        Ok(LabelEmbeddings { index, rows })
    }
}

/// Normalised CLIP text embeddings by label: row `index[label]` of `rows`.
struct LabelEmbeddings {
    index: HashMap<String, usize>,
    rows: ndarray::Array2<f32>,
}

impl LabelEmbeddings {
    fn get(&self, label: &str) -> Option<ndarray::Array1<f32>> {
        self.index.get(label).map(|&i| self.rows.row(i).to_owned())
    }
}

/// Writes `<dir>/<model>_<layer>.{json,csv}` for every table.
pub fn write_tables(tables: &[DissectionTable], dir: &Path) -> Result<Vec<PathBuf>> {
    tables
        .iter()
        .map(|t| {
            let stem = table_stem(&t.model.name, &t.layer);
            t.write(dir, &stem)?;
            Ok(dir.join(format!("{stem}.json")))
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
