//! `loss.png`: the loss curves of a run, drawn with `plotters` into a bitmap.
//!
//! Text needs a font file; DejaVu Sans Mono (free license, `data/fonts/LICENSE-DejaVu.txt`) is compiled in so the
//! plot looks the same on a fresh machine with no fonts installed.

use super::metrics_log::StepRecord;
use super::PretrainError;
use electra_pipeline::atomic_file::{sync_dir, temp_path_for};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

const FONT_BYTES: &[u8] = include_bytes!("../../../data/fonts/DejaVuSansMono.ttf");
/// The name the embedded font is registered under in plotters' font table.
pub(crate) const FONT: &str = "electra-dejavu-sans-mono";
const SIZE: (u32, u32) = (1400, 1000);
/// Points in the moving average drawn over the raw per-step values.
const SMOOTHING_WINDOW: usize = 25;

static REGISTER_FONT: Once = Once::new();

pub(crate) fn register_font() {
    // `register_font` only fails on bytes that are not a font; the bytes are compiled in and tested below.
    REGISTER_FONT.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// Trailing moving average over `window` values.
pub(crate) fn moving_average(values: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let mut sum = 0.0;
    let mut out = Vec::with_capacity(values.len());
    for (i, &(x, y)) in values.iter().enumerate() {
        sum += y;
        if i >= window {
            sum -= values[i - window].1;
        }
        out.push((x, sum / (i + 1).min(window) as f64));
    }
    out
}

/// One panel: a title and the curves on it (label, colour, points).
pub(crate) struct Panel {
    pub(crate) title: String,
    pub(crate) legend: SeriesLabelPosition,
    pub(crate) curves: Vec<Curve>,
}

/// One curve: legend label, colour, points.
pub(crate) type Curve = (&'static str, RGBColor, Vec<(f64, f64)>);

pub(crate) fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<(), String> {
    let points = panel.curves.iter().flat_map(|(_, _, p)| p.iter()).filter(|(_, y)| y.is_finite());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-6);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, (y_min - pad)..(y_max + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(|e| e.to_string())?;
    for (label, colour, curve) in &panel.curves {
        let finite: Vec<(f64, f64)> = curve.iter().copied().filter(|(_, y)| y.is_finite()).collect();
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(finite, colour.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(panel.legend.clone())
        .draw()
        .map_err(|e| e.to_string())
}

/// Draws the loss curves of `records` into the PNG file `path` (written to a temporary name, then renamed).
pub fn plot_loss_curves(path: &Path, records: &[StepRecord], disc_weight: f32) -> Result<(), PretrainError> {
    register_font();
    let series =
        |f: fn(&StepRecord) -> f64| -> Vec<(f64, f64)> { records.iter().map(|r| (r.step as f64, f(r))).collect() };
    let with_average = |title: String, raw: Vec<(f64, f64)>, colour: RGBColor| -> Panel {
        let smooth = moving_average(&raw, SMOOTHING_WINDOW);
        let light = RGBColor(
            (colour.0 as u16 + 2 * 255).div_euclid(3) as u8,
            (colour.1 as u16 + 2 * 255).div_euclid(3) as u8,
            (colour.2 as u16 + 2 * 255).div_euclid(3) as u8,
        );
        Panel {
            title,
            legend: SeriesLabelPosition::UpperRight,
            curves: vec![("per step", light, raw), ("moving average (25 steps)", colour, smooth)],
        }
    };
    let panels = [
        with_average(format!("loss = MLM + {disc_weight} x RTD"), series(|r| r.loss as f64), RGBColor(31, 119, 180)),
        with_average("generator MLM loss".into(), series(|r| r.gen_loss as f64), RGBColor(214, 39, 40)),
        with_average("discriminator RTD loss".into(), series(|r| r.disc_loss as f64), RGBColor(44, 160, 44)),
        Panel {
            title: "RTD accuracy vs. all-original baseline".into(),
            legend: SeriesLabelPosition::LowerRight,
            curves: vec![
                (
                    "RTD accuracy (moving average)",
                    RGBColor(148, 103, 189),
                    moving_average(&series(|r| r.rtd_accuracy as f64), SMOOTHING_WINDOW),
                ),
                (
                    "1 - replaced fraction (moving average)",
                    RGBColor(127, 127, 127),
                    moving_average(&series(|r| 1.0 - r.replaced_fraction as f64), SMOOTHING_WINDOW),
                ),
            ],
        },
    ];

    draw_panels(path, &panels, (2, 2)).map_err(|message| PretrainError::Plot { path: path.to_path_buf(), message })
}

/// Draws `panels` in a `rows × columns` grid into the PNG file `path`, written to a temporary name and renamed.
pub(crate) fn draw_panels(path: &Path, panels: &[Panel], grid: (usize, usize)) -> Result<(), String> {
    register_font();
    // The project's one temporary name (electra_pipeline::atomic_file), plus `.png`: the bitmap backend picks the
    // image format from the extension. plotters writes the file itself, so the flush, rename and directory
    // flush that `write_atomically` does are done here in the same order.
    let mut tmp = temp_path_for(path).into_os_string();
    tmp.push(".png");
    let tmp = std::path::PathBuf::from(tmp);
    let drawn = (|| -> Result<(), String> {
        let root = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        for (area, panel) in root.split_evenly(grid).iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(|e| e.to_string())?;
        drop(root);
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        sync_dir(dir).map_err(|e| e.to_string())
    })();
    if drawn.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    drawn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_parses() {
        assert!(plotters::style::register_font("electra-test-font", FontStyle::Normal, FONT_BYTES).is_ok());
    }

    #[test]
    fn writes_a_png_of_the_size_asked() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let records: Vec<StepRecord> = (1..=120)
            .map(|step| StepRecord {
                step,
                loss: 40.0 / (step as f32).sqrt(),
                gen_loss: 10.0 / (step as f32).sqrt(),
                disc_loss: 0.6 / (step as f32).sqrt(),
                rtd_accuracy: 0.8,
                replaced_fraction: 0.12,
                lr: 1e-4,
                grad_norm: 2.0,
                tokens_per_s: 1e4,
                seconds: step as f64,
            })
            .collect();
        let path = dir.path().join("loss.png");
        plot_loss_curves(&path, &records, 50.0)?;
        let bytes = std::fs::read(&path)?;
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, at bytes 16..24.
        assert_eq!(u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]), SIZE.0);
        assert_eq!(u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]), SIZE.1);
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1, "no temporary file left behind");
        Ok(())
    }

    #[test]
    fn moving_average_of_a_ramp() {
        let ramp: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, i as f64)).collect();
        let avg: Vec<f64> = moving_average(&ramp, 2).into_iter().map(|p| p.1).collect();
        assert_eq!(avg, vec![0.0, 0.5, 1.5, 2.5, 3.5]);
    }
}
