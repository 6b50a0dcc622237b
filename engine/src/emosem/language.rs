//! Language pretraining of a small EmoSEM explainer (Artemo's, issue 21; not in the EmoSEM
//! paper, whose explainer starts from pretrained distilgpt2): before the image stage the
//! explainer learns to write about each emotion from emotion-labelled text, so the masks of
//! emotions the annotations rarely name (6 anger, 16 disgust and 53 fear utterances in the
//! train split, against 336 of contentment) still get sentences about their own emotion.
//!
//! Texts: GoEmotions' train comments mapped to exactly one ArtEmis emotion
//! ([`crate::text::goemotions`]), without placeholders (`[NAME]`), profanity or URLs, 4 to
//! `max_tokens` GPT-2 tokens, at most `per_emotion` per emotion in file order (balanced:
//! GoEmotions holds 13 times more contentment than disgust); then every utterance of the
//! train split's stimulus annotations with its emotion. Each text is read with a blank image
//! (zero grid): the explainer's prefix is the text's emotion embedding
//! ([`super::EMOTION_PREFIX`]) and the blank image's mask-token prefix, its memory the blank
//! grid. Only the explainer (`explainer.`) and the emotion embeddings train; the mask side
//! is untouched. The blank grid's memory tokens are all equal (zero at initialisation), so
//! the cross-attention's weights get no gradient here; they learn in the image stage.
//!
//! Rehearsal (an option, not in the kit's preset; [`Rehearsal`],
//! [`LanguageConfig::rehearsal_per_step`]): during the image stage every step also reads a
//! few GoEmotions comments of the rare emotions (fewer than `rehearse_below` train
//! utterances), each with a random training painting's grid. Measured on the demo kit
//! (`docs/emosem.md`): it keeps those emotions' words, but as short comments that are not
//! about the painting.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::features::ImageFeatures;
use super::{Emosem, Query, EMOTIONS, EMOTION_PREFIX};
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::models::nn::Mode;
use crate::progress::Progress;
use crate::tokenize::TextTokenizer;
use crate::train::{vars_with_prefix, AdamW, AdamWParams, Schedule};

/// Hyper-parameters of the explainer's language pretraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LanguageConfig {
    /// Passes over the texts (0: no pretraining).
    pub epochs: usize,
    /// At most this many GoEmotions comments per emotion.
    pub per_emotion: usize,
    /// Texts per step.
    pub batch: usize,
    /// Peak learning rate (linear warm-up, then linear decay to 0).
    pub lr: f64,
    /// Warm-up steps.
    pub warmup: usize,
    /// Shuffling seed.
    pub seed: u64,
    /// Rehearsal in the image stage: every step adds the explanation loss of this many
    /// GoEmotions comments of the rare emotions (`rehearse_below`), each read with a
    /// random training painting, so the image stage, where those emotions are rare, does
    /// not wash out their language (0: none).
    pub rehearsal_per_step: usize,
    /// The rare emotions: those with fewer train-split utterances than this.
    pub rehearse_below: usize,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig {
            epochs: 4,
            per_emotion: 400,
            batch: 64,
            lr: 3e-3,
            warmup: 20,
            seed: 2026,
            // Measured, not in the preset (docs/emosem.md): rehearsal raised EA to 0.507
            // only by turning the rare emotions' explanations into short comments.
            rehearsal_per_step: 0,
            rehearse_below: 100,
        }
    }
}

/// One emotion-labelled text: its emotion and GPT-2 ids (no `<bos>`/`<eos>`).
#[derive(Debug, Clone, PartialEq)]
pub struct LanguageText {
    /// The emotion the text expresses.
    pub emotion: Emotion,
    /// Its GPT-2 ids.
    pub tokens: Vec<u32>,
}

/// Words that keep a comment out of the pretraining texts (Reddit's profanity and chat
/// abbreviations; a painting's explanation should not learn them).
const BLOCKED_WORDS: &[&str] = &[
    "fuck", "fucking", "fucked", "fucks", "shit", "shitty", "bullshit", "damn", "damned", "bitch",
    "bitches", "ass", "asshole", "assholes", "crap", "dick", "dicks", "piss", "pissed", "bastard",
    "cunt", "wtf", "stfu", "lmao", "lol", "lmfao", "omg", "tf", "af", "idk", "imo", "tbh", "smh",
    "fag", "retard", "retarded", "whore", "slut", "sex", "sexy", "porn", "nigga", "hell",
];

/// True when a GoEmotions comment may serve as pretraining text: no placeholder
/// (`[NAME]`, `[RELIGION]`), no link, no word of the blocked list (`BLOCKED_WORDS`), and some letters.
pub fn usable_comment(text: &str) -> bool {
    if text.contains('[') || text.contains("http") || text.contains("/r/") {
        return false;
    }
    let mut letters = false;
    for w in text.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
        let w = w.to_lowercase();
        let w = w.trim_matches('\'');
        if BLOCKED_WORDS.contains(&w) {
            return false;
        }
        letters |= w.chars().any(char::is_alphabetic);
    }
    letters
}

/// The pretraining texts (see the module header): GoEmotions' usable comments of
/// `assets/text/goemotions/train.tsv`, at most `per_emotion` per emotion, then
/// `utterances`; texts of fewer than 4 or more than `max_tokens` tokens are left out.
pub fn pretraining_texts(
    assets: &Path,
    per_emotion: usize,
    utterances: &[LanguageText],
    tok: &TextTokenizer,
    max_tokens: usize,
) -> Result<Vec<LanguageText>> {
    let dir = assets.join("text/goemotions");
    let labels = crate::text::goemotions::read_labels(&dir.join("emotions.txt"))?;
    let comments = crate::text::goemotions::read_mapped(&dir.join("train.tsv"), &labels)?;
    let mut counts = [0usize; 8];
    let mut out = Vec::new();
    let fits = |n: usize| (4..=max_tokens).contains(&n);
    for c in comments {
        let k = c.emotion.index();
        if k >= counts.len() || counts[k] >= per_emotion || !usable_comment(&c.text) {
            continue;
        }
        let tokens = tok.encode(c.text.trim())?;
        if fits(tokens.len()) {
            counts[k] += 1;
            out.push(LanguageText {
                emotion: c.emotion,
                tokens,
            });
        }
    }
    out.extend(
        utterances
            .iter()
            .filter(|u| fits(u.tokens.len()) && u.emotion.index() < EMOTIONS.len())
            .cloned(),
    );
    Ok(out)
}

/// What the pretraining did: the mean loss of every step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LanguageReport {
    /// Texts it read.
    pub texts: usize,
    /// Texts per emotion ([`EMOTIONS`] order).
    pub per_emotion: Vec<usize>,
    /// The explanation loss of every step.
    pub losses: Vec<f32>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The variables the language losses train: the explainer (`explainer.`) and the
/// emotion embeddings ([`EMOTION_PREFIX`]).
pub fn language_vars(vm: &VarMap) -> Vec<candle_core::Var> {
    vars_with_prefix(vm, &["explainer.", EMOTION_PREFIX])
}

/// The blank image of `model`'s grid tower: a zero grid `[1, side², dim]`.
pub fn blank_image(side: usize, dim: usize, device: &Device) -> Result<ImageFeatures> {
    Ok(ImageFeatures::Grid {
        grid: Tensor::zeros((1, side * side, dim), DType::F32, device)?,
    })
}

/// Pretrains the explainer of `model` (built over `vm`) on `texts` with the blank image
/// `blank` (see the module header). Trains `explainer.*` and [`EMOTION_PREFIX`] only;
/// `progress` gets every step, and a cancelled `progress` stops with
/// [`Error::Cancelled`].
pub fn pretrain_explainer(
    model: &Emosem,
    vm: &VarMap,
    texts: &[LanguageText],
    blank: &ImageFeatures,
    lc: &LanguageConfig,
    progress: &dyn Progress,
) -> Result<LanguageReport> {
    let start = std::time::Instant::now();
    let mut per_emotion = vec![0usize; EMOTIONS.len()];
    for t in texts {
        if let Some(n) = per_emotion.get_mut(t.emotion.index()) {
            *n += 1;
        }
    }
    let mut report = LanguageReport {
        texts: texts.len(),
        per_emotion,
        losses: Vec::new(),
        seconds: 0.0,
    };
    if texts.is_empty() || lc.epochs == 0 {
        return Ok(report);
    }
    let batch = lc.batch.max(1);
    let per_epoch = texts.len().div_ceil(batch);
    let total = per_epoch * lc.epochs;
    let mut opt = AdamW::new(Schedule::Linear {
        warmup: lc.warmup,
        total,
    })
    .with_clip(1.0);
    let vars = language_vars(vm);
    opt.add_group(
        vars,
        AdamWParams {
            weight_decay: 0.01,
            ..AdamWParams::with_lr(lc.lr)
        },
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(lc.seed);
    let mut order: Vec<usize> = (0..texts.len()).collect();
    for _ in 0..lc.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(batch) {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let batch: Vec<&LanguageText> = chunk.iter().map(|&i| &texts[i]).collect();
            let loss = language_loss(model, blank, &vec![0; batch.len()], &batch)?;
            let v = loss.to_scalar::<f32>()?;
            if !v.is_finite() {
                return Err(Error::Invalid(format!(
                    "EmoSEM language pretraining diverged (loss {v}) at step {}",
                    report.losses.len() + 1
                )));
            }
            opt.step_with(&loss.backward()?)?;
            report.losses.push(v);
            let step = report.losses.len();
            progress.report(
                step as f32 / total as f32,
                &format!("EmoSEM language pretraining step {step}/{total} loss {v:.3}"),
            );
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// The explanation loss (mean token cross-entropy) of `texts`, text `i` read with its
/// emotion's prefix and image `image_of[i]` of `images` (`[B, ...]` features).
pub fn language_loss(
    model: &Emosem,
    images: &ImageFeatures,
    image_of: &[usize],
    texts: &[&LanguageText],
) -> Result<Tensor> {
    if image_of.len() != texts.len() {
        return Err(Error::Invalid(format!(
            "EmoSEM language loss: {} images for {} texts",
            image_of.len(),
            texts.len()
        )));
    }
    let vision = model.vision_tokens(images)?;
    let memory = model.memory(images)?;
    let queries: Vec<Query> = texts
        .iter()
        .zip(image_of)
        .map(|(t, &image)| Query {
            image,
            emotion: t.emotion,
        })
        .collect();
    let tokens: Vec<Vec<u32>> = texts.iter().map(|t| t.tokens.clone()).collect();
    let decoded = model.decode(&vision, &queries, Mode::Train)?;
    let rows = Tensor::new(
        image_of.iter().map(|&i| i as u32).collect::<Vec<_>>(),
        memory.device(),
    )?;
    let mem = memory.index_select(&rows, 0)?;
    model
        .explanation_loss(&decoded.prefixes, &mem, &tokens, Mode::Train)?
        .ok_or_else(|| Error::Invalid("EmoSEM language loss: no text".into()))
}

/// Rehearsal of emotion-labelled texts during the image stage
/// ([`LanguageConfig::rehearsal_per_step`]): each call gives the language loss of the next
/// texts of a shuffled order (reshuffled once used up), each read with a random image of
/// the stage's data, so that the explainer cannot tell rehearsed texts from utterances by
/// their image.
pub struct Rehearsal {
    texts: Vec<LanguageText>,
    per_step: usize,
    order: Vec<usize>,
    rng: rand_chacha::ChaCha8Rng,
}

impl Rehearsal {
    /// Rehearses `texts`, `per_step` texts a step (at least 1).
    pub fn new(texts: Vec<LanguageText>, per_step: usize, seed: u64) -> Self {
        Rehearsal {
            texts,
            per_step: per_step.max(1),
            order: Vec::new(),
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The language loss of the next texts, each with a random item of `images`; `None`
    /// without texts or images.
    pub fn next_loss(
        &mut self,
        model: &Emosem,
        images: &[super::train::TrainItem],
    ) -> Result<Option<Tensor>> {
        use rand::Rng;
        if self.texts.is_empty() || images.is_empty() {
            return Ok(None);
        }
        let mut batch = Vec::with_capacity(self.per_step);
        while batch.len() < self.per_step.min(self.texts.len()) {
            if self.order.is_empty() {
                self.order = (0..self.texts.len()).collect();
                self.order.shuffle(&mut self.rng);
            }
            if let Some(i) = self.order.pop() {
                batch.push(&self.texts[i]);
            }
        }
        let picked: Vec<ImageFeatures> = (0..batch.len())
            .map(|_| images[self.rng.gen_range(0..images.len())].features.clone())
            .collect();
        let feats = ImageFeatures::stack(&picked)?;
        let image_of: Vec<usize> = (0..batch.len()).collect();
        language_loss(model, &feats, &image_of, &batch).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emosem::features::PatchColourGrid;
    use crate::emosem::{install_emotion_prefix, prompt_ids, EmosemConfig};

    #[test]
    fn comments_with_placeholders_links_or_profanity_are_left_out() {
        assert!(usable_comment("This painting makes me so angry."));
        assert!(usable_comment("I'm terrified of what's coming next"));
        assert!(!usable_comment("[NAME] is the worst"));
        assert!(!usable_comment("see https://example.com for more"));
        assert!(!usable_comment("What the hell is that"));
        assert!(!usable_comment("This is SHIT."));
        assert!(!usable_comment("lol"));
        // A blocked word inside another word does not block ("class", "shell").
        assert!(usable_comment("The shell in the class was gorgeous"));
        assert!(!usable_comment("?!"));
    }

    #[test]
    fn the_shipped_texts_are_balanced_and_keep_the_utterances() {
        let assets = crate::find_assets().expect("assets");
        let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
        let utt = vec![
            LanguageText {
                emotion: Emotion::Anger,
                tokens: tok.encode("The red sky makes me angry").unwrap(),
            },
            LanguageText {
                emotion: Emotion::Fear,
                tokens: tok.encode("dark").unwrap(),
            },
        ];
        let texts = pretraining_texts(&assets, 30, &utt, &tok, 25).unwrap();
        let mut counts = [0usize; 8];
        for t in &texts {
            counts[t.emotion.index()] += 1;
            assert!((4..=25).contains(&t.tokens.len()), "{:?}", t.tokens);
        }
        // 30 comments of every emotion (GoEmotions has hundreds of each), plus the one
        // utterance long enough (anger); the one-token utterance is left out.
        let mut want = [30usize; 8];
        want[Emotion::Anger.index()] += 1;
        assert_eq!(counts, want);
        assert_eq!(texts.last(), Some(&utt[0]));
        for t in &texts {
            assert!(usable_comment(&tok.decode(&t.tokens).unwrap()));
        }
    }

    /// Every variable the stage optimises gets a gradient, the mask side none moves, and
    /// the loss falls on a small set of texts.
    #[test]
    fn pretraining_trains_the_explainer_alone_and_the_loss_falls() {
        let assets = crate::find_assets().expect("assets");
        let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
        let dev = Device::Cpu;
        let cfg = EmosemConfig::tiny(PatchColourGrid::NAME, PatchColourGrid::DIM);
        let vm = VarMap::new();
        Emosem::from_varmap(&cfg, &vm, prompt_ids(&cfg, &tok).unwrap(), &dev).unwrap();
        crate::models::nn::reseed(&vm, 5).unwrap();
        install_emotion_prefix(&cfg, &vm, &tok).unwrap();
        let model = Emosem::from_varmap(&cfg, &vm, prompt_ids(&cfg, &tok).unwrap(), &dev).unwrap();
        assert!(model.has_emotion_prefix());
        let texts: Vec<LanguageText> = [
            (Emotion::Anger, "This makes me so angry and furious."),
            (Emotion::Fear, "I am scared of the dark water."),
            (Emotion::Contentment, "A calm and peaceful morning."),
            (Emotion::Disgust, "That is gross and disgusting."),
        ]
        .iter()
        .map(|(e, t)| LanguageText {
            emotion: *e,
            tokens: tok.encode(t).unwrap(),
        })
        .collect();
        let blank = blank_image(cfg.grid_side(), PatchColourGrid::DIM, &dev).unwrap();

        // Gradients: every explainer variable and the emotion embeddings.
        let vision = model.vision_tokens(&blank).unwrap();
        let memory = model.memory(&blank).unwrap();
        let queries: Vec<Query> = texts
            .iter()
            .map(|t| Query {
                image: 0,
                emotion: t.emotion,
            })
            .collect();
        let d = model.decode(&vision, &queries, Mode::Train).unwrap();
        let mem = memory
            .broadcast_as((4, memory.dim(1).unwrap(), memory.dim(2).unwrap()))
            .unwrap()
            .contiguous()
            .unwrap();
        let tokens: Vec<Vec<u32>> = texts.iter().map(|t| t.tokens.clone()).collect();
        let loss = model
            .explanation_loss(&d.prefixes, &mem, &tokens, Mode::Train)
            .unwrap()
            .unwrap();
        let grads = loss.backward().unwrap();
        let data = vm.data().lock().unwrap();
        let mut trained = 0;
        for (name, var) in data.iter() {
            if name.starts_with("explainer.") || name == EMOTION_PREFIX {
                trained += 1;
                let g = grads.get(var.as_tensor());
                let norm = g
                    .map(|g| {
                        g.sqr()
                            .unwrap()
                            .sum_all()
                            .unwrap()
                            .to_scalar::<f32>()
                            .unwrap()
                    })
                    .unwrap_or(0.0);
                // The blank image's memory is `visual_proj`'s bias (zero at
                // initialisation) on every token: the attention over equal tokens is
                // uniform whatever the query, and its values are zero, so the
                // cross-attention's weights get no gradient. They train in the image stage.
                let cross = name.contains("crossattention.") || name.contains("ln_cross_attn");
                if !cross {
                    assert!(norm > 0.0, "{name} gets no gradient");
                }
            }
        }
        assert!(trained > 10);
        let before: Vec<(String, Tensor)> = data
            .iter()
            .filter(|(n, _)| !(n.starts_with("explainer.") || *n == EMOTION_PREFIX))
            .map(|(n, v)| (n.clone(), v.as_tensor().copy().unwrap()))
            .collect();
        drop(data);

        let lc = LanguageConfig {
            epochs: 30,
            batch: 4,
            lr: 1e-2,
            warmup: 0,
            ..Default::default()
        };
        let r =
            pretrain_explainer(&model, &vm, &texts, &blank, &lc, &crate::progress::Silent).unwrap();
        assert_eq!(r.losses.len(), 30);
        assert_eq!(r.per_emotion.iter().sum::<usize>(), 4);
        let first = r.losses[0];
        let last = *r.losses.last().unwrap();
        assert!(last < 0.5 * first, "loss {first} -> {last}");
        // The mask side is bit-identical.
        let data = vm.data().lock().unwrap();
        for (n, t) in before {
            let now = data[&n].as_tensor();
            let diff = now.sub(&t).unwrap().abs().unwrap().max_all().unwrap();
            assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "{n} moved");
        }
    }
}
