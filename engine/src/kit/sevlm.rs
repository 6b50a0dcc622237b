//! The demo kit's SEVLM recipe (small configuration, CPU): a compact vocabulary from the
//! shipped texts, language pretraining in SEVLM's own format on GoEmotions (comments
//! mapped to one ArtEmis emotion, written as `the emotion is <e> because <comment>`, with
//! a blank image), then SEVLM training on the annotation train split with the frozen
//! demo image tower's grid features.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::annotations::dataset::AnnotationSet;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::sevlm::data::{
    annotation_examples, build_vocab, make_pairs, Encoded, Example, SequenceBuilder,
};
use crate::sevlm::model::{Sevlm, SevlmConfig};
use crate::sevlm::train::{train, SevlmTrainConfig, StepLosses, TrainData};

use super::emotion_head::{
    choose_and_fit, choose_decides, emotion_head_accuracy, emotion_head_config, emotion_shares,
    install_reader, reader_config,
};

/// GoEmotions' train comments mapped to exactly one ArtEmis emotion (no image).
pub fn goemotions_examples(assets: &Path) -> Result<Vec<Example>> {
    let dir = assets.join("text/goemotions");
    let labels = crate::text::goemotions::read_labels(&dir.join("emotions.txt"))?;
    Ok(
        crate::text::goemotions::read_mapped(&dir.join("train.tsv"), &labels)?
            .into_iter()
            .map(|e| Example {
                image: String::new(),
                emotion: e.emotion,
                explanation: e.text,
            })
            .collect(),
    )
}

/// The demo SEVLM's known words ([`crate::text::known_words`], its `words.txt`): every
/// word of the annotation train split's utterances and every word written at least twice
/// in the GoEmotions comments it pretrains on (`pretrain_pool` as in the recipe; once-only
/// words there are mostly typos).
pub fn known_words(
    set: &AnnotationSet,
    assets: &Path,
    pretrain_pool: usize,
) -> Result<std::collections::HashSet<String>> {
    use crate::text::known_words::words_in;
    let [train_ex, _, _] = annotation_examples(set);
    let mut words: std::collections::HashSet<String> = train_ex
        .iter()
        .flat_map(|e| words_in(&e.explanation).collect::<Vec<_>>())
        .collect();
    let mut pool = goemotions_examples(assets)?;
    if pretrain_pool > 0 {
        pool.truncate(pretrain_pool);
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for e in &pool {
        for w in words_in(&e.explanation) {
            *counts.entry(w).or_default() += 1;
        }
    }
    words.extend(counts.into_iter().filter(|(_, n)| *n >= 2).map(|(w, _)| w));
    Ok(words)
}

/// SEVLM's memory input for every painting: the grids [n, N, D], followed by the packed
/// text embeddings of `texts` (same order) when `text_memory` is given.
pub fn memory(
    grids: &Tensor,
    texts: &[crate::models::text_memory::PaintingText],
    text_memory: Option<&crate::sevlm::model::TextMemoryConfig>,
    models: &Path,
    device: &Device,
) -> Result<Tensor> {
    let Some(cfg) = text_memory else {
        return Ok(grids.clone());
    };
    let tm = crate::models::text_memory::TextMemory::load(cfg, models, device)?;
    crate::models::text_memory::pack(grids, &tm.embed(texts)?)
}

/// Hyper-parameters of the kit's SEVLM stages (`artemo train --preset demo --kit FILE`
/// reads them from JSON; missing fields take the full preset's values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KitSevlmConfig {
    /// Pretraining passes over the selected GoEmotions comments.
    pub pretrain_epochs: usize,
    /// GoEmotions comments looked at for the vocabulary (0: all).
    pub pretrain_pool: usize,
    /// At most this many pretraining comments: those of the pool whose every token is in
    /// the vocabulary, in file order.
    pub max_pretrain: usize,
    /// Pretraining learning rate.
    pub pretrain_lr: f64,
    /// SEVLM training on the annotations.
    pub train: SevlmTrainConfig,
    /// Tokens seen fewer times in the GoEmotions pool are left out of the vocabulary.
    pub min_count: usize,
    /// Decoder width.
    pub width: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Decoder heads.
    pub heads: usize,
    /// Text as a second memory (issue 21): the painting's title, artist/date/medium and
    /// description embedded by the frozen MiniLM beside the image grid.
    pub text_memory: bool,
    /// Add every annotation utterance of the train split (with its emotion, no image) to
    /// the language pretraining.
    pub pretrain_utterances: bool,
    /// Decode the evaluation's explanations with repeat blocking (no token twice in a
    /// row, no bigram twice).
    pub block_repeats: bool,
    /// Artemo's emotion head (issue 21; not in SEVLM, see
    /// [`crate::sevlm::model::EmotionHeadConfig`]): a linear map of the text embeddings
    /// and the mean grid to the emotion word's logits.
    pub emotion_head: bool,
    /// Full-batch steps fitting the emotion head alone on the train images' emotion
    /// shares before the image-conditioned stage (0: none).
    pub emotion_head_steps: usize,
    /// L2 penalty (on the sum of squared weights) of that fit. Not read since the
    /// cross-validation chooses the penalty ([`super::emotion_head::choose_and_fit`]);
    /// kept so that kit files and training logs that name it still parse.
    pub emotion_head_l2: f64,
    /// Give the emotion head the `ea-minilm` classifier's reading of each text field
    /// ([`crate::sevlm::model::EmotionReaderConfig`]); cross-validation then decides
    /// whether the head reads it.
    pub emotion_head_reader: bool,
    /// Shuffles of the 5-fold cross-validation that chooses the emotion head (1: one
    /// 5-fold split, as the kit before the reader).
    pub emotion_head_cv_repeats: usize,
    /// After training, let the head alone pick the emotion
    /// ([`crate::sevlm::model::EmotionHeadConfig::decides`]) unless adding the decoder's
    /// logits raises the accuracy on the val paintings ([`choose_decides`]).
    pub emotion_head_decides_on_val: bool,
    /// Decode the evaluation's explanations by nucleus sampling (top-p 0.9, seed 0, the
    /// emotion kept greedy) at this temperature; `None`: greedy.
    pub sample_temperature: Option<f32>,
    /// The logit bias towards the painting's title words at decoding, written into the
    /// model's `config.json` ([`crate::sevlm::model::SevlmConfig::painting_word_bias`];
    /// 0: off).
    pub painting_word_bias: f32,
}

impl Default for KitSevlmConfig {
    fn default() -> Self {
        Self::full(2026)
    }
}

impl KitSevlmConfig {
    /// The full preset.
    ///
    /// The first recipe (pretraining on the 26 fully covered comments of a 3,000-comment
    /// pool, then 6 epochs at a peak learning rate of 5e-4) degenerated into repeating
    /// "the"; this one covers thousands of comments and trains longer at a higher rate
    /// with warm-up.
    pub fn full(seed: u64) -> Self {
        KitSevlmConfig {
            pretrain_epochs: 1,
            pretrain_pool: 0,
            max_pretrain: 6_000,
            pretrain_lr: 1.5e-3,
            train: SevlmTrainConfig {
                epochs: 10,
                batch_pairs: 16,
                lr_decoder: 1e-3,
                lr_vad_encoder: 1e-3,
                warmup: 40,
                seed,
                // The demo kit keeps the choices it was trained with (alpha 2, clip 1, no
                // dropout, fixed pairs); the "demo kit" issue retrains it.
                ..SevlmTrainConfig::legacy()
            },
            min_count: 4,
            width: 192,
            layers: 3,
            heads: 4,
            text_memory: false,
            pretrain_utterances: false,
            block_repeats: false,
            emotion_head: false,
            emotion_head_steps: 400,
            emotion_head_l2: 1e-3,
            emotion_head_reader: false,
            emotion_head_cv_repeats: 1,
            emotion_head_decides_on_val: false,
            sample_temperature: None,
            painting_word_bias: 0.0,
        }
    }

    /// The issue-21 recipe as measured (`/work/scratch-d/kit2.json` of the H-D session):
    /// text memory with text dropout 0.3, an emotion-token loss of weight 1, pretraining
    /// on 2,000 GoEmotions comments and the train split's utterances, 6 epochs,
    /// repeat-blocked decoding. On the test split it removed repeated bigrams and copies
    /// and beat every baseline on BLEU-1, ROUGE-L and CIDEr-D, but its ACC stayed at the
    /// majority's (0.548): the text memory did not yet move the emotion decision.
    pub fn reads(seed: u64) -> Self {
        let mut c = Self::full(seed);
        c.text_memory = true;
        c.pretrain_utterances = true;
        c.block_repeats = true;
        c.max_pretrain = 2_000;
        c.train.epochs = 6;
        c.train.text_dropout = 0.3;
        c.train.emotion_weight = 1.0;
        c
    }

    /// The demo kit's recipe (issue 21): [`Self::reads`] plus Artemo's emotion head on the
    /// painting's text and mean grid, chosen by cross-validation on the train and val
    /// paintings and frozen while the decoder learns to explain the emotion it names
    /// (measured in `models/demo/MODEL_CARD.md`).
    pub fn demo(seed: u64) -> Self {
        let mut c = Self::reads(seed);
        c.emotion_head = true;
        c.train.freeze_emotion_head = true;
        // What a classifier of 24,000 emotion-labelled sentences reads in the title, and
        // a choice among twice the candidates stable enough to trust (docs/sevlm.md).
        c.emotion_head_reader = true;
        c.emotion_head_cv_repeats = 5;
        c.emotion_head_decides_on_val = true;
        // Chosen on the 27 validation paintings: the strongest CIDEr-D among 0-8 whose
        // BLEU-1 and ROUGE-L stay at or above those without it (docs/sevlm.md).
        c.painting_word_bias = 5.0;
        c
    }

    /// The minutes-long smoke-test preset.
    pub fn quick(seed: u64) -> Self {
        let mut c = Self::full(seed);
        c.pretrain_pool = 2_000;
        c.max_pretrain = 256;
        c.train.epochs = 1;
        c.train.warmup = 2;
        c.width = 64;
        c.layers = 1;
        c.heads = 2;
        c.min_count = 50;
        c
    }
}

/// A training step of `stage` (its half of the run starts at `start`): "SEVLM <stage> step
/// S/T loss L".
fn report_step(progress: &dyn Progress, stage: &str, start: f32, s: &StepLosses, total: usize) {
    progress.report(
        start + 0.5 * s.step as f32 / total.max(1) as f32,
        &format!("SEVLM {stage} step {}/{total} loss {:.3}", s.step, s.total),
    );
}

/// Trains the kit's SEVLM. `grids` [n_images, N, D] are the frozen tower's features of
/// the paintings named by `images` (same order). `progress` gets every step (language
/// pretraining is the first half, SEVLM the second) with its losses; a cancelled
/// `progress` stops with [`Error::Cancelled`]. Returns the model, its variables, config
/// and every step's losses.
#[allow(clippy::too_many_arguments)]
pub fn train_small(
    grids: &Tensor,
    images: &[String],
    set: &AnnotationSet,
    assets: &Path,
    models: &Path,
    seq_full: &SequenceBuilder,
    kit: &KitSevlmConfig,
    device: &Device,
    progress: &dyn Progress,
) -> Result<(Sevlm, VarMap, SevlmConfig, Vec<StepLosses>)> {
    let [train_ex, _, _] = annotation_examples(set);
    let mut pool = goemotions_examples(assets)?;
    if kit.pretrain_pool > 0 {
        pool.truncate(kit.pretrain_pool);
    }
    let vocab = build_vocab(seq_full, &train_ex, &pool, kit.min_count)?;
    let (_, n_tok, dim) = grids.dims3()?;
    let mut cfg = SevlmConfig::small();
    if kit.text_memory {
        cfg.text_memory = Some(crate::models::text_memory::kit_config());
    }
    cfg.name = "demo-small".into();
    cfg.decoder.n_embd = kit.width;
    cfg.decoder.n_layer = kit.layers;
    cfg.decoder.n_head = kit.heads;
    cfg.encoder_dim = dim;
    let mut cfg = cfg.with_compact_vocab(&vocab);
    let seq = SequenceBuilder::for_config(
        seq_full.tokenizer().clone(),
        seq_full.lexicon().clone(),
        &cfg,
    );
    if kit.emotion_head {
        let mut head = emotion_head_config(&seq)?;
        if kit.emotion_head_reader {
            let text = cfg.text_memory.as_ref().ok_or_else(|| {
                Error::Invalid("SEVLM kit: the emotion head's reader needs the text memory".into())
            })?;
            head.reader = Some(reader_config(models, text)?);
        }
        cfg.emotion_head = Some(head);
    }
    cfg.painting_word_bias = kit.painting_word_bias;
    let (model, vm) = Sevlm::init(&cfg, kit.train.seed, device)?;
    if cfg.reader_labels() > 0 {
        install_reader(&vm, models, device)?;
    }
    let mut log = Vec::new();

    // Stage 1: language pretraining with a blank image (index n_images).
    if kit.emotion_head && kit.emotion_head_steps > 0 {
        let index: HashMap<&str, usize> = images
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i))
            .collect();
        let [tr, va, te] = annotation_examples(set);
        let [tr, va, te] = [&tr, &va, &te].map(|x| emotion_shares(x, &index));
        // The head is chosen by 5-fold cross-validation over the train and val paintings
        // together (27 val paintings alone decide by one or two paintings), then fitted on
        // all of them; the test paintings are only scored.
        let pool: Vec<(usize, Vec<f32>)> = tr.iter().chain(va.iter()).cloned().collect();
        let choice = choose_and_fit(
            &model,
            &vm,
            grids,
            &pool,
            kit.emotion_head_steps,
            kit.train.text_dropout,
            kit.train.seed,
            kit.emotion_head_cv_repeats,
            progress,
        )?;
        let (cv, l2, use_grid) = (choice.cv, choice.l2, choice.inputs);
        let bare = crate::sevlm::train::drop_text(&model, grids, &vec![false; grids.dim(0)?])?;
        let msg = format!(
            "SEVLM emotion head (l2 {l2}, inputs {use_grid:?}, chosen by {} x 5-fold CV {cv:.3}, fitted on {} train+val paintings): test accuracy {:.3} with text, {:.3} pixels only, over {} test paintings",
            kit.emotion_head_cv_repeats.max(1),
            pool.len(),
            emotion_head_accuracy(&model, grids, &te)?,
            emotion_head_accuracy(&model, &bare, &te)?,
            te.len()
        );
        tracing::info!("{msg}");
        progress.report(0.0, &msg);
    }
    let blank = Tensor::zeros((1, n_tok, dim), DType::F32, grids.device())?;
    let all_images = Tensor::cat(&[grids, &blank], 0)?;
    let blank_idx = images.len();
    let mut pre_seqs: Vec<(Encoded, usize)> = pool
        .iter()
        // Comments with tokens outside the vocabulary are skipped.
        .filter_map(|e| seq.encode(e.emotion, &e.explanation).ok())
        .take(kit.max_pretrain)
        .map(|s| (s, blank_idx))
        .collect();
    if kit.pretrain_utterances {
        // Every train utterance the vocabulary covers, interleaved with the comments so
        // no batch is all one source.
        let utt: Vec<(Encoded, usize)> = train_ex
            .iter()
            .filter_map(|e| seq.encode(e.emotion, &e.explanation).ok())
            .map(|s| (s, blank_idx))
            .collect();
        let step = (pre_seqs.len() / utt.len().max(1)).max(1);
        let mut mixed = Vec::with_capacity(pre_seqs.len() + utt.len());
        let mut u = utt.into_iter();
        for (i, s) in pre_seqs.into_iter().enumerate() {
            mixed.push(s);
            if (i + 1) % step == 0 {
                mixed.extend(u.next());
            }
        }
        mixed.extend(u);
        pre_seqs = mixed;
    }
    if !pre_seqs.is_empty() && kit.pretrain_epochs > 0 {
        progress.report(
            0.0,
            &format!("SEVLM pretraining on {} texts", pre_seqs.len()),
        );
        let data = TrainData {
            sequences: pre_seqs,
            images: all_images.clone(),
            paired: false,
            groups: Vec::new(),
        };
        let tc = SevlmTrainConfig {
            epochs: kit.pretrain_epochs,
            batch_pairs: 2 * kit.train.batch_pairs,
            lr_decoder: kit.pretrain_lr,
            lr_vad_encoder: kit.pretrain_lr,
            alpha: 0.0,
            warmup: kit.train.warmup / 2,
            // Blank images carry no text either.
            text_dropout: 0.0,
            ..kit.train.clone()
        };
        let r = train(
            &model,
            &vm,
            &data,
            &tc,
            device,
            |s, total| report_step(progress, "pretrain", 0.0, s, total),
            progress,
        )?;
        log.extend(r.steps);
    }

    // Stage 2: SEVLM on the annotation pairs.
    let index: HashMap<&str, usize> = images
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let usable: Vec<Example> = train_ex
        .into_iter()
        .filter(|e| index.contains_key(e.image.as_str()))
        .collect();
    let pairs = make_pairs(&usable, kit.train.seed);
    if pairs.len() < 2 {
        return Err(Error::Invalid(
            "the annotation train split has fewer than 2 usable pairs".into(),
        ));
    }
    let mut seqs = Vec::with_capacity(pairs.len() * 2);
    for (a, b) in pairs {
        for i in [a, b] {
            let e = &usable[i];
            seqs.push((
                seq.encode(e.emotion, &e.explanation)?,
                index[e.image.as_str()],
            ));
        }
    }
    let data = TrainData {
        sequences: seqs,
        images: all_images,
        paired: true,
        groups: Vec::new(),
    };
    let r = train(
        &model,
        &vm,
        &data,
        &kit.train,
        device,
        |s, total| report_step(progress, "sevlm", 0.5, s, total),
        progress,
    )?;
    log.extend(r.steps);
    if kit.emotion_head && kit.emotion_head_decides_on_val {
        let index: HashMap<&str, usize> = images
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i))
            .collect();
        let [_, va, _] = annotation_examples(set);
        let val = emotion_shares(&va, &index);
        let (decides, added, alone) = choose_decides(&cfg, &vm, &seq, grids, &val, device)?;
        let msg = format!(
            "SEVLM emotion decision on {} val paintings: accuracy {added:.3} with the decoder's logits added to the head's, {alone:.3} with the head alone: {}",
            val.len(),
            if decides { "the head decides" } else { "added" }
        );
        tracing::info!("{msg}");
        progress.report(0.8, &msg);
        if let Some(h) = cfg.emotion_head.as_mut() {
            h.decides = decides;
        }
        // The returned model follows the configuration it is saved with.
        let model = Sevlm::new(
            &cfg,
            candle_nn::VarBuilder::from_varmap(&vm, DType::F32, device),
            false,
        )?;
        return Ok((model, vm, cfg, log));
    }
    Ok((model, vm, cfg, log))
}

/// Lower-case words of a text (letters, digits and apostrophes).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether a word bigram occurs twice in `text`.
pub fn has_repeated_bigram(text: &str) -> bool {
    let w = words(text);
    let mut seen = std::collections::HashSet::new();
    w.windows(2)
        .any(|b| !seen.insert((b[0].clone(), b[1].clone())))
}

/// The issue-21 checks of predictions `emotion because explanation` (one per painting):
/// "distinct emotions", "repeated bigram" (share of explanations with a word bigram
/// twice), "copies" (share whose words equal a training utterance's), and, with a
/// classifier, "EA vs own emotion" (share whose explanation the classifier reads as the
/// predicted emotion, over predictions with both parts).
pub fn explanation_checks(
    rows: &[(String, String)],
    train_utterances: &[String],
    ea: Option<&dyn crate::metrics::TextEmotionClassifier>,
) -> Result<std::collections::BTreeMap<String, f64>> {
    let train: std::collections::HashSet<Vec<String>> =
        train_utterances.iter().map(|u| words(u)).collect();
    let parsed: Vec<_> = rows
        .iter()
        .map(|(_, t)| crate::sevlm::generate::parse(t))
        .collect();
    let n = rows.len().max(1) as f64;
    let distinct: std::collections::HashSet<_> = parsed.iter().filter_map(|(e, _, _)| *e).collect();
    let explanations: Vec<String> = parsed
        .iter()
        .map(|(_, x, _)| x.clone().unwrap_or_default())
        .collect();
    let repeated = explanations
        .iter()
        .filter(|x| has_repeated_bigram(x))
        .count();
    let copies = explanations
        .iter()
        .filter(|x| !x.is_empty() && train.contains(&words(x)))
        .count();
    let mut m = std::collections::BTreeMap::new();
    m.insert("distinct emotions".to_string(), distinct.len() as f64);
    m.insert("repeated bigram".to_string(), repeated as f64 / n);
    m.insert("copies of train utterances".to_string(), copies as f64 / n);
    if let Some(ea) = ea {
        let both: Vec<(crate::emotion::Emotion, String)> = parsed
            .iter()
            .filter_map(|(e, x, _)| Some(((*e)?, x.clone().filter(|x| !x.is_empty())?)))
            .collect();
        if !both.is_empty() {
            let texts: Vec<String> = both.iter().map(|(_, x)| x.clone()).collect();
            let read = ea.predict(&texts)?;
            let agree = both.iter().zip(&read).filter(|((e, _), r)| e == *r).count();
            m.insert(
                "EA vs own emotion".to_string(),
                agree as f64 / both.len() as f64,
            );
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_count_repeats_copies_and_emotions() {
        assert!(has_repeated_bigram("the sky is blue and the sky is grey"));
        assert!(!has_repeated_bigram("the sky is blue and the sea is grey"));
        let rows = vec![
            ("a".into(), "fear because the dark sky looks angry".into()),
            ("b".into(), "awe because The light, the light".into()),
            ("c".into(), "fear because the light the light".into()),
        ];
        let train = vec!["The dark sky looks angry.".to_string()];
        let m = explanation_checks(&rows, &train, None).unwrap();
        assert_eq!(m["distinct emotions"], 2.0);
        assert!((m["repeated bigram"] - 2.0 / 3.0).abs() < 1e-9);
        assert!((m["copies of train utterances"] - 1.0 / 3.0).abs() < 1e-9);
        assert!(!m.contains_key("EA vs own emotion"));
    }
}
