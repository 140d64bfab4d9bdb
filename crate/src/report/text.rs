//! The report's Markdown: a pure function of [`ReportData`] (and D1's section, written from the
//! dissection findings), so changing a sentence needs only `glassbox report --render-only`, not a new
//! run. The wording lives here; the numbers it quotes are the data's own methods (`data`).

use super::data::{
    ClutterAgreement, ImageResult, MeanChange, Method, ObjectScores, ReportData, CLUTTER_MIN_IMAGES,
};
use super::markdown::{num, rate, Table};
use crate::cam::CamMethod;
use crate::compare::faithfulness::CausalMode;

/// One Markdown document of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub file: &'static str,
    pub text: String,
}

/// The documents of the report, in the order they are written.
pub fn documents(data: &ReportData, d1_markdown: &str, d1_summary: &str) -> Vec<Document> {
    let setup = setup_text(data);
    let note = reading_note(data);
    let run = &data.run;
    [
        ("d1_dissection.md", d1_markdown.to_string()),
        ("d2_lime.md", d2_text(data, &setup)),
        ("d3_cams.md", d3_text(data, &setup)),
        ("d4_insights.md", d4_text(data, &note)),
        ("results.md", results_text(data, &setup, d1_summary, &note)),
    ]
    .into_iter()
    .map(|(file, text)| Document {
        file,
        text: stamp(&text, run.warning.as_deref(), &run.run_note),
    })
    .collect()
}

/// A document with the run note under its title and, for models without real weights, the warning under
/// the title and in every figure caption (so no figure can be quoted without it).
fn stamp(text: &str, warning: Option<&str>, run_note: &str) -> String {
    let (title, body) = text.split_once('\n').unwrap_or((text, ""));
    let mut head = String::new();
    if let Some(w) = warning {
        head.push_str(&format!("\n> **{w}**\n"));
    }
    if !run_note.is_empty() {
        head.push_str(&format!("\n> {run_note}\n"));
    }
    let body = match warning {
        Some(w) => body.replace("![", &format!("![{w}: ")),
        None => body.to_string(),
    };
    format!("{title}\n{head}{body}")
}

/// The first name of a class label, at most `n` characters (`"tench, Tinca tinca"` → `"tench"`).
pub fn truncate(s: &str, n: usize) -> String {
    let first = s.split(',').next().unwrap_or(s).trim();
    first.chars().take(n).collect()
}

fn cam_titles(cams: &[CamMethod]) -> String {
    let titles: Vec<&str> = cams.iter().map(|&m| Method::Cam(m).title()).collect();
    match titles.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn setup_text(data: &ReportData) -> String {
    let run = &data.run;
    let l = &run.lime;
    let view = if run.view.is_empty() {
        String::new()
    } else {
        format!(
            "- The model's view of each image: `{}`, the same pixels for every method, so the maps compare like \
             with like.\n",
            run.view
        )
    };
    format!(
        "Model: **{}**, run on the `{}` engine. Every number below was computed by `glassbox report` in \
         this run.\n\n\
         - CAMs: pytorch-grad-cam semantics at the last convolutional layer (`features`), target = the model's top-1 class, \
         maps upsampled to the {}×{} model input and min-max normalised to [0, 1].\n\
         - LIME: {} samples, batch {}, seed {}, top {} labels, kernel width {}, quickshift superpixels; the LIME mask is \
         `get_image_and_mask(top-1 class, positive_only=True, num_features={}, hide_rest=False)`; the LIME map gives every \
         pixel its superpixel's weight.\n\
         - Faithfulness: RISE deletion (substrate 0 in the normalised input) and insertion (substrate: 11×11 Gaussian blur, \
         σ = 5), {} pixels per step, score = softmax probability of the top-1 class, AUC by the trapezoid rule over the \
         fraction of pixels; ties in a map are ordered randomly (seed {}).\n\
         - Sanity check: cascading re-initialisation of the top {:?} weighted layers (seed {}), on the first {} \
         images.\n",
        run.model,
        run.engine,
        run.input.height,
        run.input.width,
        l.num_samples,
        l.batch_size,
        l.seed,
        l.top_labels,
        l.kernel_width,
        l.mask_features,
        run.causal.step,
        run.causal.seed,
        run.cascade,
        run.sanity_seed,
        run.sanity_images,
    ) + &view
}

fn prediction_cell(image: &ImageResult) -> String {
    let mark = match image.expected_class {
        Some(e) if e == image.target.class => " (correct)",
        Some(_) => " (wrong)",
        None => "",
    };
    format!(
        "{} p={:.3}{mark}",
        truncate(&image.target.label, 28),
        image.target.probability
    )
}

/// The caption under an image's methods strip, naming its panels.
fn methods_caption(data: &ReportData) -> String {
    format!(
        "Each figure, left to right: the model's view, the LIME top-5 mask (yellow outline), the LIME weight map \
         (green = for the class, red = against, brighter = stronger; half over the view, as on the explain page), then {} (JET, red = most important).",
        cam_titles(&data.run.cams)
    )
}

fn d2_text(data: &ReportData, setup: &str) -> String {
    let mut s = String::from("# D2: LIME on the sample images\n\n");
    s.push_str(setup);
    s.push('\n');
    let mut t = Table::new(&[
        "image",
        "top-1 (explained)",
        "superpixels",
        "mask pixels",
        "surrogate R²",
        "local pred",
        "seconds",
    ]);
    for image in &data.images {
        t.row(vec![
            image.name.clone(),
            prediction_cell(image),
            image.lime.superpixels.to_string(),
            image.lime.mask_pixels.to_string(),
            num(image.lime.surrogate_r2),
            num(image.lime.local_prediction),
            image
                .lime
                .seconds
                .map_or_else(|| "n/a".into(), |s| format!("{s:.1}")),
        ]);
    }
    s.push_str(&t.render());
    s.push('\n');
    s.push_str(&methods_caption(data));
    s.push_str("\n\n");
    for image in &data.images {
        s.push_str(&format!(
            "![{0}: {1}](fig/{0}_methods.png)\n\n",
            image.name,
            truncate(&image.target.label, 40)
        ));
    }
    s
}

fn agreement_table(data: &ReportData) -> String {
    let mut t = Table::new(&[
        "image",
        "top-1",
        "method",
        "IoU same count",
        "IoU top 20 %",
        "IoU ≥ 0.5",
        "Spearman",
        "pointing",
    ]);
    for i in data.agreement_order() {
        let image = &data.images[i];
        for cam in &image.cams {
            let a = &cam.agreement;
            t.row(vec![
                image.name.clone(),
                truncate(&image.target.label, 20),
                Method::Cam(cam.method).title().into(),
                num(a.iou_same_count),
                num(a.iou_top20),
                num(a.iou_half),
                num(a.spearman),
                if a.pointing_hit { "hit" } else { "miss" }.into(),
            ]);
        }
    }
    t.render()
}

fn faithfulness_table(data: &ReportData) -> String {
    let methods = data.faithfulness_methods();
    let mut header = vec!["image".to_string()];
    for m in &methods {
        header.push(format!("{} del ↓", m.title()));
        header.push(format!("{} ins ↑", m.title()));
    }
    let mut t = Table::new(&header);
    for image in &data.images {
        let mut row = vec![image.name.clone()];
        for f in &image.faithfulness {
            row.push(format!("{:.3}", f.deletion.auc));
            row.push(format!("{:.3}", f.insertion.auc));
        }
        t.row(row);
    }
    let mut row = vec!["**mean**".to_string()];
    for &m in &methods {
        let aucs = data.mean_aucs(m);
        row.push(format!("**{}**", num(aucs.deletion)));
        row.push(format!("**{}**", num(aucs.insertion)));
    }
    t.row(row);
    t.render()
}

fn objects_table(data: &ReportData) -> String {
    let objects = &data.objects;
    let mut t = Table::new(&[
        "case",
        "mask",
        "top-1",
        "method",
        "pointing",
        "IoU top-|object|",
        "mass on object",
    ]);
    for o in objects {
        for hit in &o.methods {
            t.row(vec![
                o.case.clone(),
                format!("{} px", o.object_pixels),
                truncate(&o.target.label, 18),
                hit.method.title().into(),
                if hit.pointing_hit { "hit" } else { "miss" }.into(),
                num(hit.iou_top_object),
                format!("{:.3}", hit.mass_on_object),
            ]);
        }
    }
    let mut s = t.render();
    let mut summary = Table::new(&[
        "method",
        "pointing-game hit rate",
        "mean IoU with object",
        "mean mass on object",
    ]);
    for m in data.object_methods() {
        let ObjectScores {
            pointing_hits,
            mean_iou,
            mean_mass_on_object,
        } = data.object_scores(m);
        summary.row(vec![
            m.title().into(),
            rate(pointing_hits, objects.len()),
            num(mean_iou),
            num(mean_mass_on_object),
        ]);
    }
    s.push('\n');
    s.push_str(&summary.render());
    s.push_str("\nLIME's own top-5 mask vs the object: ");
    s.push_str(
        &objects
            .iter()
            .map(|o| format!("{} IoU {}", o.case, num(o.lime_mask_iou)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    s.push_str(".\n");
    s
}

fn sanity_table(data: &ReportData) -> String {
    let mut s = String::new();
    let mut t = Table::new(&[
        "stage",
        "layers re-initialised",
        "method",
        "mean Spearman",
        "mean SSIM",
        "per image (rho / SSIM)",
    ]);
    for stage in &data.sanity {
        let layers = stage
            .layers
            .iter()
            .map(|l| l.node.clone())
            .collect::<Vec<_>>()
            .join(", ");
        for m in stage.methods() {
            let MeanChange {
                spearman: rho,
                ssim,
            } = stage.mean_change(m);
            t.row(vec![
                format!("top {}", stage.stage),
                layers.clone(),
                m.title().into(),
                num(rho),
                num(ssim),
                stage
                    .changes_of(m)
                    .map(|c| {
                        format!(
                            "{}: {} / {:.2}",
                            data.short_name_of(&c.image),
                            num(c.change.spearman),
                            c.change.ssim
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ]);
        }
    }
    s.push_str(&t.render());
    for stage in &data.sanity {
        s.push_str(&format!(
            "\nTop-1 of the model with the top {} layers randomised: {}.",
            stage.stage,
            stage
                .randomized_top1
                .iter()
                .map(|r| format!(
                    "{} → {} (p={:.3})",
                    data.short_name_of(&r.image),
                    truncate(&r.prediction.label, 20),
                    r.prediction.probability
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s.push('\n');
    s
}

fn d3_text(data: &ReportData, setup: &str) -> String {
    let cams = &data.run.cams;
    let mut s = format!("# D3: {}, compared with LIME\n\n", cam_titles(cams));
    s.push_str(setup);
    let mut header = vec!["image".to_string(), "top-1 (explained)".to_string()];
    header.extend(
        cams.iter()
            .map(|&m| format!("{} s", Method::Cam(m).title())),
    );
    header.push("LIME s".into());
    let mut t = Table::new(&header);
    for image in &data.images {
        let mut row = vec![image.name.clone(), prediction_cell(image)];
        row.extend(image.cams.iter().map(|c| format!("{:.2}", c.seconds)));
        row.push(
            image
                .lime
                .seconds
                .map_or_else(|| "n/a".into(), |s| format!("{s:.2}")),
        );
        t.row(row);
    }
    s.push_str("\n## Predictions and run time\n\n");
    s.push_str(&t.render());
    s.push_str("\n## Agreement with LIME (images from most to least agreement)\n\n");
    s.push_str(&format!(
        "Agreement = the mean over the {} CAMs of the IoU between the CAM's top pixels (as many as the LIME mask has) \
         and the LIME top-5 mask. Also: IoU with the CAM's top 20 % and with CAM ≥ 0.5, Spearman rank correlation between \
         the CAM and the per-pixel LIME weight (average ranks for ties), and whether the CAM's maximum lies in the LIME mask.\n\n",
        cams.len()
    ));
    s.push_str(&agreement_table(data));
    s.push_str("\n![agreement](fig/agreement.svg)\n\n");
    s.push_str("## Faithfulness (RISE deletion ↓ and insertion ↑ AUC)\n\n");
    s.push_str(&faithfulness_table(data));
    s.push_str("\n![mean curves](fig/faithfulness_mean.svg)\n\n");
    for image in &data.images {
        s.push_str(&format!(
            "![{0} curves](fig/{0}_faithfulness.svg)\n\n",
            image.name
        ));
    }
    if !data.objects.is_empty() {
        s.push_str("## Does the explanation land on the object?\n\n");
        s.push_str("Masks mapped onto the model's input grid by the same crop and resize as the image. Pointing: the map's \
                    maximum lies on the object (no tolerance). IoU top-|object|: the map's top pixels, as many as the object \
                    has, against the object. Mass on object: share of the map's non-negative mass on the object.\n\n");
        s.push_str(&objects_table(data));
        s.push_str(&format!(
            "\nEach figure, left to right: the object mask (yellow outline) on the model's view, the LIME top-5 mask, then \
             {} with the object outlined.\n",
            cam_titles(cams)
        ));
        for o in &data.objects {
            s.push_str(&format!("\n![{0}](fig/object_{0}.png)\n", o.case));
        }
        s.push('\n');
    }
    if !data.sanity.is_empty() {
        s.push_str("## Sanity check (cascading randomisation, Adebayo et al. 2018)\n\n");
        s.push_str("Spearman and SSIM between the map on the trained model and on the model with its top layers re-initialised \
                    (same image, same class). Values near 1 would mean the explanation ignores the weights it claims to explain.\n\n");
        s.push_str(&sanity_table(data));
        s.push_str("\n![sanity](fig/sanity.svg)\n\n");
        s.push_str(&format!(
            "Each stage's figure: two rows per image, the trained model then the randomised one; left to right the \
             model's view, the LIME weight map, then {}.\n\n",
            cam_titles(cams)
        ));
        for stage in &data.sanity {
            s.push_str(&format!(
                "![stage {0}](fig/sanity_stage{0}.png)\n\n",
                stage.stage
            ));
        }
    }
    s
}

/// D4: differences and insights, every sentence built from the numbers of this run.
fn d4_text(data: &ReportData, reading_note: &str) -> String {
    let mut s = format!(
        "# D4: Differences and insights\n\nAll statements are about **{}** on the images of this run.\n\n",
        data.run.model
    );
    s.push_str(&insights(data));
    s.push_str(reading_note);
    s
}

/// How to read the comparison, with this run's geometry (input size, CAM resolution, LIME samples).
fn reading_note(data: &ReportData) -> String {
    let run = &data.run;
    let (h, w) = (run.input.height, run.input.width);
    let (fh, fw) = (run.features.height, run.features.width);
    format!(
        "\nHow to read these: LIME sees the model only through {} perturbed copies with superpixels switched to \
         black, so its mask follows superpixel boundaries and the class evidence that survives occlusion; the CAMs read the \
         last {fh}×{fw} feature map of the {h}×{w} input, so they are smooth blobs at {}-pixel resolution. Same-count IoU is \
         therefore capped well below 1 even when both point at the same object. Deletion AUC rewards maps whose top pixels \
         destroy the class fastest; with a zero (grey) substrate it also rewards maps that create out-of-distribution \
         patches, so read it next to insertion.\n",
        run.lime.num_samples,
        h / fh.max(1)
    )
}

/// "Simple vs cluttered", answered from two clutter measures of the images that ran (edge density and
/// LIME's superpixel count), never from which images they are.
fn clutter_insight(data: &ReportData) -> String {
    let Some(ClutterAgreement {
        images,
        by_edges,
        by_segments,
        most_cluttered: most,
        least_cluttered: least,
    }) = data.clutter_agreement()
    else {
        return format!(
            "- **Simple vs cluttered.** Not answered: {} image(s) with an agreement score; a correlation needs at \
             least {CLUTTER_MIN_IMAGES}.\n",
            data.scored_images().len()
        );
    };
    let verdict = match by_edges {
        Some(r) if r <= -0.3 => "agreement tends to fall as clutter rises",
        Some(r) if r >= 0.3 => "agreement tends to rise with clutter",
        Some(_) => "no clear relation between clutter and agreement",
        None => "no relation can be measured (a constant measure)",
    };
    format!(
        "- **Simple vs cluttered.** Clutter measured two ways, the share of edge pixels and LIME's superpixel count: \
         Spearman correlation with the agreement (mean same-count IoU) {} and {} over {images} images, so on these images \
         {verdict} (a tendency from {images} images, not a test). Most cluttered by edges: {} ({:.1}% edge pixels, rank {} of \
         {images} by agreement); least: {} ({:.1}%, rank {}).\n",
        num(by_edges),
        num(by_segments),
        most.image.name,
        100.0 * most.image.edge_density,
        most.rank,
        least.image.name,
        100.0 * least.image.edge_density,
        least.rank,
    )
}

/// The insight bullets, built from the numbers.
fn insights(data: &ReportData) -> String {
    let images = &data.images;
    let mut s = String::new();
    // Agreement extremes.
    let order = data.agreement_order();
    if let (Some(&best), Some(&worst)) = (order.first(), order.last()) {
        let (best, worst) = (&images[best], &images[worst]);
        s.push_str(&format!(
            "- **Where LIME and the CAMs agree.** Highest agreement: {} (mean same-count IoU {}, Spearman {}); lowest: {} \
             (IoU {}, Spearman {}). Over all images the mean same-count IoU is {} and the mean Spearman {}.\n",
            best.name,
            num(best.agreement_score()),
            num(best.mean_spearman()),
            worst.name,
            num(worst.agreement_score()),
            num(worst.mean_spearman()),
            num(data.mean_agreement_score()),
            num(data.mean_spearman()),
        ));
        s.push_str(&clutter_insight(data));
    }
    // Pointing agreement per CAM.
    for &m in &data.run.cams {
        s.push_str(&format!(
            "- {}'s maximum falls inside the LIME mask on {}.\n",
            Method::Cam(m).title(),
            rate(data.pointing_hits(m), images.len())
        ));
    }
    // Faithfulness winners.
    if let Some(best) = data.most_faithful() {
        let auc = |m: Method| {
            let aucs = data.mean_aucs(m);
            (
                aucs.deletion.unwrap_or(f64::NAN),
                aucs.insertion.unwrap_or(f64::NAN),
            )
        };
        s.push_str(&format!(
            "- **Faithfulness.** Lowest mean deletion AUC: {} ({:.3}; best on {} images); highest mean insertion AUC: {} \
             ({:.3}; best on {} images). Mean deletion / insertion AUC per method: {}.\n",
            best.deletion.title(),
            auc(best.deletion).0,
            data.faithfulness_wins(best.deletion, CausalMode::Deletion),
            best.insertion.title(),
            auc(best.insertion).1,
            data.faithfulness_wins(best.insertion, CausalMode::Insertion),
            data.faithfulness_methods()
                .into_iter()
                .map(|m| {
                    let (d, i) = auc(m);
                    format!("{} {d:.3} / {i:.3}", m.title())
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // Objects.
    let objects = &data.objects;
    if !objects.is_empty() {
        let parts: Vec<String> = data
            .object_methods()
            .into_iter()
            .map(|m| {
                let scores = data.object_scores(m);
                format!(
                    "{} {} hits, mean IoU {}",
                    m.title(),
                    rate(scores.pointing_hits, objects.len()),
                    num(scores.mean_iou)
                )
            })
            .collect();
        s.push_str(&format!(
            "- **On the object** ({} cases): {}.\n",
            objects.len(),
            parts.join("; ")
        ));
    }
    // Sanity.
    for stage in &data.sanity {
        let parts: Vec<String> = stage
            .methods()
            .into_iter()
            .map(|m| {
                let MeanChange {
                    spearman: rho,
                    ssim,
                } = stage.mean_change(m);
                format!("{} Spearman {} / SSIM {}", m.title(), num(rho), num(ssim))
            })
            .collect();
        s.push_str(&format!(
            "- **Sanity, top {} layers re-initialised**: {}.\n",
            stage.stage,
            parts.join("; ")
        ));
    }
    s
}

fn results_text(data: &ReportData, setup: &str, d1_summary: &str, reading_note: &str) -> String {
    // `setup` names the model and its weights.
    let mut s = String::from("# Results\n\n");
    s.push_str(setup);
    s.push_str("\nDeliverables: [D1 dissection](d1_dissection.md) · [D2 LIME](d2_lime.md) · [D3 CAMs vs LIME](d3_cams.md) · \
                [D4 insights](d4_insights.md) · [all numbers (JSON)](results.json)\n\n");
    s.push_str(&format!("## D1: dissection\n\n{d1_summary}\n\n"));
    s.push_str("## Agreement of the CAMs with LIME\n\n");
    let mut t = Table::new(&[
        "image",
        "top-1",
        "mean IoU same count",
        "mean Spearman",
        "pointing hits",
    ]);
    for i in data.agreement_order() {
        let image = &data.images[i];
        t.row(vec![
            image.name.clone(),
            prediction_cell(image),
            num(image.agreement_score()),
            num(image.mean_spearman()),
            format!("{}/{}", image.pointing_hits(), image.cams.len()),
        ]);
    }
    s.push_str(&t.render());
    s.push_str("\n![agreement](fig/agreement.svg)\n\n## Faithfulness\n\n");
    s.push_str(&faithfulness_table(data));
    s.push_str("\n![mean curves](fig/faithfulness_mean.svg)\n\n");
    if !data.objects.is_empty() {
        s.push_str("## Explanations vs object masks\n\n");
        s.push_str(&objects_table(data));
        s.push('\n');
    }
    if !data.sanity.is_empty() {
        s.push_str("## Sanity check\n\n");
        s.push_str(&sanity_table(data));
        s.push_str("\n![sanity](fig/sanity.svg)\n\n");
    }
    s.push_str("## Insights\n\n");
    s.push_str(&insights(data));
    s.push_str(reading_note);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_puts_the_warning_under_the_title_and_into_every_caption() {
        let text = "# T\n\nbody ![a](fig/a.png) and ![b](fig/b.svg)\n";
        let stamped = stamp(text, Some("TEST MIRROR"), "quick run");
        assert!(stamped.starts_with("# T\n\n> **TEST MIRROR**\n\n> quick run\n"));
        assert!(stamped.contains("![TEST MIRROR: a]") && stamped.contains("![TEST MIRROR: b]"));
        assert_eq!(stamp(text, None, ""), text);
    }

    #[test]
    fn cam_lists_read_as_sentences() {
        assert_eq!(cam_titles(&[CamMethod::GradCam]), "Grad-CAM");
        assert_eq!(
            cam_titles(&[
                CamMethod::GradCam,
                CamMethod::AblationCam,
                CamMethod::ScoreCam
            ]),
            "Grad-CAM, AblationCAM and ScoreCAM"
        );
        assert_eq!(truncate("tench, Tinca tinca", 28), "tench");
    }
}
