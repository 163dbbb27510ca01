#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use super::*;

const VOCAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/vocab.txt");

fn host() -> HostTokenizer {
    HostTokenizer::from_file(VOCAB).unwrap()
}

/// Writes `contents` to `name` in a fresh directory; the directory lives as long as the returned guard.
fn file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

fn read(name: &str, contents: &str, task: Task, columns: &Columns) -> Result<Vec<TextExample>, DataError> {
    let (_dir, path) = file(name, contents.as_bytes());
    read_text_examples(&path, task, columns)
}

fn cols(a: Option<&str>, b: Option<&str>, label: Option<&str>) -> Columns {
    Columns { text_a: a.map(Into::into), text_b: b.map(Into::into), label: label.map(Into::into) }
}

fn class(s: &str) -> Option<RawLabel> {
    Some(RawLabel::Class(s.to_owned()))
}

fn ex(a: &str, b: Option<&str>, label: Option<RawLabel>, line: usize) -> TextExample {
    TextExample { text_a: a.to_owned(), text_b: b.map(Into::into), label, line }
}

/// Asserts that the message names the file and, where given, the line.
fn assert_names(err: &DataError, name: &str, line: Option<usize>) {
    let message = err.to_string();
    assert!(message.contains(name), "{message}");
    if let Some(line) = line {
        assert!(message.contains(&format!("line {line}:")), "{message}");
    }
}

// ---- tasks and label maps ----

#[test]
fn task_names_match_the_command_line_and_serde() {
    use clap::ValueEnum;
    for task in Task::value_variants() {
        assert_eq!(task.to_possible_value().unwrap().get_name(), task.name());
        assert_eq!(serde_json::to_string(task).unwrap(), format!("\"{}\"", task.name()));
        assert_eq!(serde_json::from_str::<Task>(&format!("\"{task}\"")).unwrap(), *task);
    }
    assert_eq!(Task::Sst2.name(), "sst2");
    assert_eq!((Task::Sst2.is_pair(), Task::Mnli.is_pair(), Task::Custom.is_pair()), (Some(false), Some(true), None));
    assert_eq!(Task::Tagging.is_pair(), Some(false));
    assert!(Task::Stsb.is_regression() && !Task::Custom.is_regression());
    assert_eq!((Task::Rte.default_epochs(), Task::Stsb.default_epochs(), Task::Sst2.default_epochs()), (10, 10, 3));
    assert_eq!(Task::Tagging.default_epochs(), 3);
}

#[test]
fn label_maps_use_glue_order_or_sorted_training_labels() {
    let none = Vec::<String>::new;
    assert_eq!(LabelMap::for_task(Task::Sst2, none()).unwrap().labels(), ["0", "1"]);
    assert_eq!(LabelMap::for_task(Task::Rte, none()).unwrap().labels(), ["entailment", "not_entailment"]);
    let mnli = LabelMap::for_task(Task::Mnli, none()).unwrap();
    assert_eq!(mnli.labels(), ["contradiction", "entailment", "neutral"]);
    assert_eq!(
        (mnli.id("neutral"), mnli.label(0), mnli.id("x"), mnli.label(3)),
        (Some(2), Some("contradiction"), None, None)
    );

    let custom = ["10", "2", "neg", "2", "1", "pos", "1.5"].map(String::from);
    let map = LabelMap::for_task(Task::Custom, custom).unwrap();
    assert_eq!(map.labels(), ["1", "1.5", "2", "10", "neg", "pos"]);
    assert_eq!((map.len(), map.is_empty()), (6, false));

    let tags = ["I-NP", "B-NP", "O", "B-VP", "O"].map(String::from);
    assert_eq!(LabelMap::for_task(Task::Tagging, tags).unwrap().labels(), ["O", "B-NP", "B-VP", "I-NP"]);

    assert!(matches!(LabelMap::for_task(Task::Stsb, none()), Err(DataError::NoLabels { .. })));
    assert!(matches!(LabelMap::for_task(Task::Custom, none()), Err(DataError::NoLabels { .. })));

    // config.json round trip, keeping the order given.
    let map = LabelMap::from_labels(vec!["b".into(), "a".into()]);
    let json = serde_json::to_string(&map).unwrap();
    assert_eq!(json, r#"{"labels":["b","a"]}"#);
    let back: LabelMap = serde_json::from_str(&json).unwrap();
    assert_eq!((back.id("a"), back), (Some(1), map));
}

#[test]
fn custom_tasks_are_regression_when_labels_are_fractional_numbers() {
    let with = |labels: &[&str]| labels.iter().map(|l| ex("x", None, class(l), 1)).collect::<Vec<_>>();
    assert!(Task::Custom.regression_for(&with(&["0.5", "3", "4.25"])));
    assert!(!Task::Custom.regression_for(&with(&["0", "1", "4"])));
    assert!(!Task::Custom.regression_for(&with(&["0.5", "pos"])));
    assert!(!Task::Custom.regression_for(&[]));
    assert!(Task::Stsb.regression_for(&[]));
    assert!(!Task::Sst2.regression_for(&with(&["0.5"])));
}

// ---- formats ----

#[test]
fn sst2_reads_both_headers() {
    // The GLUE header (`sentence`) and the one of /work/shared/data/glue/SST-2 (`text`); trailing spaces kept.
    let glue = "sentence\tlabel\nhide new secretions from the parental units \t0\nthat loves its characters \t1\n";
    let shared = glue.replacen("sentence", "text", 1);
    for contents in [glue, shared.as_str()] {
        let examples = read("train.tsv", contents, Task::Sst2, &Columns::default()).unwrap();
        assert_eq!(
            examples,
            [
                ex("hide new secretions from the parental units ", None, class("0"), 2),
                ex("that loves its characters ", None, class("1"), 3),
            ]
        );
    }
    // A GLUE test file: no label column, so no labels.
    let test = read("test.tsv", "index\tsentence\n0\tuneasy mishmash .\n", Task::Sst2, &Columns::default()).unwrap();
    assert_eq!(test, [ex("uneasy mishmash .", None, None, 2)]);
}

#[test]
fn mrpc_strips_the_bom_and_keeps_quotes() {
    let contents = "\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n\
        1\t702876\t702977\tAmrozi accused his brother, whom he called \"the witness\", of deliberately distorting \
        his evidence.\tReferring to him as only \"the witness\", Amrozi accused his brother of deliberately \
        distorting his evidence.\n\
        0\t1355540\t1355592\tHe said the foodservice pie business doesn't fit.\t\"The foodservice pie business\n";
    let examples = read("train.tsv", contents, Task::Mrpc, &Columns::default()).unwrap();
    assert_eq!(examples.len(), 2);
    assert!(examples[0].text_a.starts_with("Amrozi accused his brother, whom he called \"the witness\""));
    assert!(examples[0].text_b.as_deref().unwrap().starts_with("Referring to him"));
    assert_eq!((examples[0].label.clone(), examples[0].line), (class("1"), 2));
    assert_eq!(examples[1].text_b.as_deref(), Some("\"The foodservice pie business"));
    assert_eq!(examples[1].label, class("0"));
}

#[test]
fn glue_pair_tasks_find_their_columns() {
    let rte = "index\tsentence1\tsentence2\tlabel\n0\tA dog runs.\tAn animal moves.\tentailment\n";
    assert_eq!(
        read("dev.tsv", rte, Task::Rte, &Columns::default()).unwrap(),
        [ex("A dog runs.", Some("An animal moves."), class("entailment"), 2)]
    );
    let qnli = "index\tquestion\tsentence\tlabel\n0\tWho?\tHim.\tnot_entailment\n";
    assert_eq!(
        read("dev.tsv", qnli, Task::Qnli, &Columns::default()).unwrap(),
        [ex("Who?", Some("Him."), class("not_entailment"), 2)]
    );
    // QQP holds stray quotes that are text, not CSV quoting.
    let qqp = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n5\t1\t2\tWhat is \"x?\tIs \"x\" y?\t1\n";
    assert_eq!(
        read("dev.tsv", qqp, Task::Qqp, &Columns::default()).unwrap(),
        [ex("What is \"x?", Some("Is \"x\" y?"), class("1"), 2)]
    );
    let mnli = "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tlabel1\tgold_label\n\
        0\t1\t2\tfiction\tThe cat sat.\tA cat is sitting.\tentailment\tentailment\n";
    assert_eq!(
        read("dev_matched.tsv", mnli, Task::Mnli, &Columns::default()).unwrap(),
        [ex("The cat sat.", Some("A cat is sitting."), class("entailment"), 2)]
    );
    // GLUE STS-B: float scores.
    let stsb = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n\
        0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off.\tAn air plane is taking off.\t5.000\n";
    assert_eq!(
        read("dev.tsv", stsb, Task::Stsb, &Columns::default()).unwrap(),
        [ex("A plane is taking off.", Some("An air plane is taking off."), Some(RawLabel::Score(5.0)), 2)]
    );
}

#[test]
fn cola_is_headerless_except_its_test_file() {
    let train = "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n\
        gj04\t0\t*\tOne more pseudo generalization and I'm giving up.\n";
    let examples = read("train.tsv", train, Task::Cola, &Columns::default()).unwrap();
    assert_eq!(
        examples[0],
        ex("Our friends won't buy this analysis, let alone the next one we propose.", None, class("1"), 1)
    );
    assert_eq!((examples[1].label.clone(), examples[1].line), (class("0"), 2));
    let test = read("test.tsv", "index\tsentence\n0\tBill whistled past the house.\n", Task::Cola, &Columns::default());
    assert_eq!(test.unwrap(), [ex("Bill whistled past the house.", None, None, 2)]);
}

#[test]
fn headerless_files_take_column_indices() {
    // The STS benchmark's own sts-train.csv: tab-separated, no header, 7 or 9 fields.
    let sts = "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.\n\
        main-news\theadlines\t2013\t0002\t0.800\tA \"quoted\" man.\tA woman, alone.\tsrc1\tsrc2\n";
    let columns = cols(Some("5"), Some("6"), Some("4"));
    let want = [
        ex("A plane is taking off.", Some("An air plane is taking off."), Some(RawLabel::Score(5.0)), 1),
        ex("A \"quoted\" man.", Some("A woman, alone."), Some(RawLabel::Score(0.8)), 2),
    ];
    assert_eq!(read("sts-train.csv", sts, Task::Stsb, &columns).unwrap(), want);
    assert_eq!(read("sts-train.tsv", sts, Task::Stsb, &columns).unwrap(), want);
    // A row without the fields asked for.
    let err = read("sts-dev.tsv", "a\tb\tc\n", Task::Stsb, &columns).unwrap_err();
    assert!(matches!(err, DataError::WrongFieldCount { line: 1, expected: 7, found: 3, .. }), "{err:?}");
    // A pair task without a second column on a headerless file.
    let err = read("x.tsv", "a\tb\n", Task::Stsb, &cols(Some("0"), None, None)).unwrap_err();
    assert!(matches!(&err, DataError::MissingColumn { column, found, .. } if column == "text_b" && found.is_empty()));
}

#[test]
fn csv_quoting_follows_rfc_4180() {
    let contents =
        "text,label\r\n\"Hello, world\",1\r\n\"two\r\nlines, \"\"quoted\"\"\",0\r\n\r\nplain \"as is\",1\r\n\"\",0";
    let examples = read("data.csv", contents, Task::Custom, &Columns::default()).unwrap();
    assert_eq!(
        examples,
        [
            ex("Hello, world", None, class("1"), 2),
            ex("two\nlines, \"quoted\"", None, class("0"), 3),
            ex("plain \"as is\"", None, class("1"), 6),
            ex("", None, class("0"), 7),
        ]
    );
    // Custom pair detection and explicit names.
    let pairs = "id,premise,hypothesis,gold\n1,A,B,yes\n";
    assert_eq!(
        read("p.csv", pairs, Task::Custom, &cols(None, None, Some("gold"))).unwrap(),
        [ex("A", Some("B"), class("yes"), 2)]
    );
    assert_eq!(
        read("p.csv", pairs, Task::Custom, &cols(Some("hypothesis"), None, Some("id"))).unwrap(),
        [ex("B", None, class("1"), 2)]
    );
}

#[test]
fn json_lines_take_string_and_numeric_labels() {
    // From /work/shared/data/classification/movie-reviews.jsonl (shortened).
    let reviews = "{\"id\": \"cv000_29416\", \"text\": \"plot : two teen couples go to a church party . \\nthey get \
        into an accident . \", \"label\": 0}\n\n{\"id\": \"cv001\", \"text\": \"the happy bastard's quick movie \
        review\", \"label\": 1}\n";
    let examples = read("movie-reviews.jsonl", reviews, Task::Custom, &Columns::default()).unwrap();
    assert_eq!(examples.len(), 2);
    assert!(examples[0].text_a.starts_with("plot : two teen couples") && examples[0].text_a.contains('\n'));
    assert_eq!((examples[0].label.clone(), examples[1].label.clone(), examples[1].line), (class("0"), class("1"), 3));

    let mixed = "{\"sentence\": \"good\", \"label\": \"pos\"}\n{\"sentence\": \"meh\", \"label\": null}\n\
        {\"sentence\": \"so-so\", \"label\": 2.5}\n";
    assert_eq!(
        read("m.json", mixed, Task::Custom, &Columns::default()).unwrap(),
        [ex("good", None, class("pos"), 1), ex("meh", None, None, 2), ex("so-so", None, class("2.5"), 3)]
    );
    // An HF datasets export of MNLI: its integer labels become GLUE's names, -1 (test) no label.
    let mnli = "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 2, \"idx\": 0}\n\
        {\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 0, \"idx\": 1}\n\
        {\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": -1, \"idx\": 2}\n";
    let labels: Vec<_> = read("mnli.jsonl", mnli, Task::Mnli, &Columns::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.text_b, e.label))
        .collect();
    assert_eq!(
        labels,
        [(Some("h".into()), class("contradiction")), (Some("h".into()), class("entailment")), (Some("h".into()), None)]
    );
}

fn write_parquet(path: &Path, columns: Vec<(&str, arrow_array::ArrayRef)>) {
    let batch = arrow_array::RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn parquet_reads_hf_datasets_exports() {
    use arrow_array::{Float32Array, Int32Array, Int64Array, LargeStringArray, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let sst2 = dir.path().join("sst2.parquet");
    write_parquet(
        &sst2,
        vec![
            ("sentence", Arc::new(StringArray::from(vec!["it 's a charming journey . ", "bleak"])) as _),
            ("label", Arc::new(Int64Array::from(vec![1, 0])) as _),
            ("idx", Arc::new(Int32Array::from(vec![0, 1])) as _),
        ],
    );
    assert_eq!(
        read_text_examples(&sst2, Task::Sst2, &Columns::default()).unwrap(),
        [ex("it 's a charming journey . ", None, class("1"), 1), ex("bleak", None, class("0"), 2)]
    );

    let stsb = dir.path().join("stsb.parquet");
    write_parquet(
        &stsb,
        vec![
            ("sentence1", Arc::new(LargeStringArray::from(vec!["a", "c"])) as _),
            ("sentence2", Arc::new(LargeStringArray::from(vec!["b", "d"])) as _),
            ("label", Arc::new(Float32Array::from(vec![Some(3.8), None])) as _),
        ],
    );
    assert_eq!(
        read_text_examples(&stsb, Task::Stsb, &Columns::default()).unwrap(),
        [ex("a", Some("b"), Some(RawLabel::Score(3.8)), 1), ex("c", Some("d"), None, 2)]
    );

    let rte = dir.path().join("rte.parquet");
    write_parquet(
        &rte,
        vec![
            ("sentence1", Arc::new(StringArray::from(vec!["a"])) as _),
            ("sentence2", Arc::new(StringArray::from(vec!["b"])) as _),
            ("label", Arc::new(Int64Array::from(vec![1])) as _),
        ],
    );
    let examples = read_text_examples(&rte, Task::Rte, &Columns::default()).unwrap();
    assert_eq!(examples[0].label, class("not_entailment"));
    // A label column by index, and a text column that is not text.
    let examples = read_text_examples(&rte, Task::Custom, &cols(Some("sentence2"), None, Some("2"))).unwrap();
    assert_eq!(examples, [ex("b", None, class("1"), 1)]);
    let err = read_text_examples(&rte, Task::Custom, &cols(Some("label"), None, None)).unwrap_err();
    assert!(matches!(err, DataError::Parquet { .. }) && err.to_string().contains("`label`"), "{err}");
}

#[test]
fn conll_reads_sentences() {
    let contents = "-DOCSTART- -X- -X- O\n\nConfidence NN B-NP\nin IN B-PP\n\n\nthe DT B-NP\npound NN I-NP\n";
    let (_dir, path) = file("train.txt", contents.as_bytes());
    let sentences = read_tagged(&path, None).unwrap();
    let s = |words: &[&str], tags: &[&str], line| TaggedSentence {
        words: words.iter().map(|w| w.to_string()).collect(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        line,
    };
    assert_eq!(sentences, [s(&["Confidence", "in"], &["B-NP", "B-PP"], 3), s(&["the", "pound"], &["B-NP", "I-NP"], 7)]);
    // Tabs, the POS column, no trailing blank line.
    let (_dir, path) = file("x.conll", b"EU\tNNP\tB-ORG\nrejects\tVBZ\tO");
    assert_eq!(read_tagged(&path, Some(1)).unwrap(), [s(&["EU", "rejects"], &["NNP", "VBZ"], 1)]);
}

// ---- malformed files ----

#[test]
fn empty_files_and_header_only_files_have_no_examples() {
    for (name, contents) in
        [("e.tsv", ""), ("h.tsv", "sentence\tlabel\n"), ("h.csv", "text,label\n\n"), ("e.jsonl", "\n")]
    {
        let err = read(name, contents, Task::Sst2, &Columns::default()).unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{name}: {err:?}");
        assert_names(&err, name, None);
    }
    let (_dir, path) = file("e.txt", b"\n-DOCSTART- -X- O\n\n");
    let err = read_tagged(&path, None).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }));
    assert_names(&err, "e.txt", None);
}

#[test]
fn wrong_field_count_names_the_line() {
    let err = read("wfc.tsv", "sentence\tlabel\na\t1\nb\t0\textra\n", Task::Sst2, &Columns::default()).unwrap_err();
    assert!(matches!(err, DataError::WrongFieldCount { line: 3, expected: 2, found: 3, .. }), "{err:?}");
    assert_names(&err, "wfc.tsv", Some(3));
}

#[test]
fn unknown_labels_in_dev_name_the_line() {
    let train = read("train.tsv", "text\tlabel\na\tpos\nb\tneg\n", Task::Custom, &Columns::default()).unwrap();
    let map = LabelMap::for_task(Task::Custom, train_labels(&train)).unwrap();
    let (_dir, dev_path) = file("dev.tsv", b"text\tlabel\nc\tneg\nd\tneutral\n");
    let dev = read_text_examples(&dev_path, Task::Custom, &Columns::default()).unwrap();
    let err = encode_all_text(&host(), &dev, Some(&map), 16, &dev_path).unwrap_err();
    assert!(
        matches!(&err, DataError::BadLabel { line: 3, label, known, .. } if label == "neutral" && known == &["neg", "pos"])
    );
    assert_names(&err, "dev.tsv", Some(3));
    assert!(err.to_string().contains("neutral"));
    // A GLUE task's label that is not GLUE's.
    let sst2 = read("dev.tsv", "sentence\tlabel\nx\t2\n", Task::Sst2, &Columns::default()).unwrap();
    let map = LabelMap::for_task(Task::Sst2, Vec::new()).unwrap();
    let err = encode_text(&host().tokenizer(), &sst2[0], Some(&map), 16, Path::new("dev.tsv")).unwrap_err();
    assert!(matches!(err, DataError::BadLabel { line: 2, .. }));
}

#[test]
fn non_numeric_scores_are_refused() {
    let contents = "sentence1\tsentence2\tscore\na\tb\t4.2\nc\td\tfive\n";
    let err = read("stsb.tsv", contents, Task::Stsb, &Columns::default()).unwrap_err();
    assert!(matches!(&err, DataError::BadScore { line: 3, value, .. } if value == "five"), "{err:?}");
    assert_names(&err, "stsb.tsv", Some(3));
    let err =
        read("stsb.tsv", "sentence1\tsentence2\tscore\na\tb\tNaN\n", Task::Stsb, &Columns::default()).unwrap_err();
    assert!(matches!(err, DataError::BadScore { line: 2, .. }));
}

#[test]
fn broken_json_names_the_line() {
    let err = read(
        "b.jsonl",
        "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\n",
        Task::Custom,
        &Columns::default(),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::MalformedJson { line: 2, .. }), "{err:?}");
    assert_names(&err, "b.jsonl", Some(2));
    for (contents, line, says) in [
        ("[{\"text\": \"a\"}]\n", 1, "array"),
        ("{\"text\": \"a\"}\n{\"body\": \"b\"}\n", 2, "no field `text`"),
        ("{\"text\": 3}\n", 1, "not a string"),
        ("{\"text\": \"a\", \"label\": [1]}\n", 1, "not a string or number"),
    ] {
        let err = read("b.json", contents, Task::Custom, &Columns::default()).unwrap_err();
        assert!(matches!(err, DataError::MalformedJson { .. }), "{err:?}");
        assert_names(&err, "b.json", Some(line));
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn unterminated_quotes_name_the_record_start() {
    let err =
        read("q.csv", "text,label\ngood,1\n\"never closed,0\nmore\n", Task::Custom, &Columns::default()).unwrap_err();
    assert!(matches!(err, DataError::UnterminatedQuote { line: 3, .. }), "{err:?}");
    assert_names(&err, "q.csv", Some(3));
}

#[test]
fn malformed_conll_lines_are_refused() {
    let (_dir, path) = file("bad.txt", b"EU NNP B-NP\nrejects VBZ B-VP\nGerman\n");
    let err = read_tagged(&path, None).unwrap_err();
    assert!(matches!(err, DataError::MalformedConll { line: 3, .. }), "{err:?}");
    assert_names(&err, "bad.txt", Some(3));
    let (_dir, path) = file("bad.txt", b"\nEU NNP B-NP\n");
    let err = read_tagged(&path, Some(3)).unwrap_err();
    assert!(matches!(err, DataError::MalformedConll { line: 2, .. }) && err.to_string().contains("column 3"), "{err}");
    assert!(matches!(read_tagged(&path, Some(0)), Err(DataError::MalformedConll { line: 2, .. })));
}

#[test]
fn invalid_utf8_names_the_line() {
    let (_dir, path) = file("u.tsv", b"sentence\tlabel\ngood\t1\nbad \xff\xfe\t0\n");
    let err = read_text_examples(&path, Task::Sst2, &Columns::default()).unwrap_err();
    assert!(matches!(err, DataError::InvalidUtf8 { line: 3, .. }), "{err:?}");
    assert_names(&err, "u.tsv", Some(3));
    let (_dir, path) = file("u.conll", b"a B\n\xc3 O\n");
    assert!(matches!(read_tagged(&path, None), Err(DataError::InvalidUtf8 { line: 2, .. })));
}

#[test]
fn missing_columns_list_what_is_there() {
    let contents = "review\tsentiment\nfine\t1\n";
    let err = read("m.tsv", contents, Task::Custom, &cols(None, None, Some("label"))).unwrap_err();
    assert!(
        matches!(&err, DataError::MissingColumn { column, found, .. } if column == "label" && found == &["review", "sentiment"])
    );
    assert_names(&err, "m.tsv", None);
    assert!(err.to_string().contains("`label`") && err.to_string().contains("sentiment"), "{err}");
    let err = read("m.tsv", "a\tb\nx\ty\n", Task::Sst2, &Columns::default()).unwrap_err();
    assert!(matches!(&err, DataError::MissingColumn { column, .. } if column == "sentence"), "{err:?}");
    let err = read("m.tsv", "sentence1\tlabel\nx\t0\n", Task::Rte, &Columns::default()).unwrap_err();
    assert!(matches!(&err, DataError::MissingColumn { column, .. } if column == "sentence2"), "{err:?}");
}

#[test]
fn long_lines_and_unknown_formats_are_refused() {
    let mut contents = b"text\tlabel\n".to_vec();
    contents.extend(vec![b'a'; MAX_LINE_BYTES + 10]);
    contents.extend(b"\t1\n");
    let (_dir, path) = file("long.tsv", &contents);
    let err = read_text_examples(&path, Task::Custom, &Columns::default()).unwrap_err();
    assert!(matches!(err, DataError::LineTooLong { line: 2, limit: MAX_LINE_BYTES, .. }), "{err:?}");
    assert_names(&err, "long.tsv", Some(2));
    // A line of exactly the limit is fine.
    let mut contents = b"text\n".to_vec();
    contents.extend(vec![b'a'; MAX_LINE_BYTES]);
    contents.extend(b"\r\n");
    let (_dir, path) = file("limit.tsv", &contents);
    assert_eq!(read_text_examples(&path, Task::Custom, &Columns::default()).unwrap()[0].text_a.len(), MAX_LINE_BYTES);

    let err = read("data.xlsx", "x", Task::Custom, &Columns::default()).unwrap_err();
    assert!(matches!(err, DataError::UnknownFormat { .. }));
    assert_names(&err, "data.xlsx", None);
    let err = read("bad.parquet", "not parquet", Task::Custom, &Columns::default()).unwrap_err();
    assert!(matches!(err, DataError::Parquet { .. }));
    assert_names(&err, "bad.parquet", None);
    let err = read_text_examples(Path::new("/nonexistent/train.tsv"), Task::Sst2, &Columns::default()).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }) && std::error::Error::source(&err).is_some());
    assert_names(&err, "/nonexistent/train.tsv", None);
}

// ---- encoding ----

#[test]
fn ids_are_the_bert_uncased_vocab() {
    let host = host();
    let e = encode_text(&host.tokenizer(), &ex("Hello world", None, None, 4), None, 128, Path::new("x")).unwrap();
    assert_eq!(e.input_ids, [101, 7592, 2088, 102]);
    assert_eq!((e.token_type_ids, e.target, e.line, e.word_starts), (vec![0; 4], Target::None, 4, vec![]));
}

#[test]
fn pairs_get_token_types_and_longest_first_truncation() {
    let host = host();
    let tok = host.tokenizer();
    let map = LabelMap::for_task(Task::Mrpc, Vec::new()).unwrap();
    let encode = |a: &str, b: &str, max_len| {
        encode_text(&tok, &ex(a, Some(b), class("1"), 2), Some(&map), max_len, Path::new("x")).unwrap()
    };
    let e = encode("hello", "world", 128);
    assert_eq!(e.input_ids, [101, 7592, 102, 2088, 102]);
    assert_eq!(e.token_type_ids, [0, 0, 0, 1, 1]);
    assert_eq!(e.target, Target::Class(1));
    // Hand-checked against HF tokenizers' LongestFirst: 5 + 5 tokens into a budget of 8 - 3 = 5. Both are longer
    // than half, so the first keeps 5 / 2 = 2 and the second the other 3 (transformers' slow tokenizer, which
    // drops one token at a time from the longer and ties from the second, would keep 3 and 2).
    let e = encode("one two three four five", "six seven eight nine ten", 8);
    assert_eq!(e.input_ids, [101, 2028, 2048, 102, 2416, 2698, 2809, 102]);
    assert_eq!(e.token_type_ids, [0, 0, 0, 0, 1, 1, 1, 1]);
    // The shorter keeps all it has: 10 + 2 into 6 leaves the first 4.
    let e = encode("a b c d e f g h i j", "one two", 9);
    assert_eq!(e.input_ids, [101, 1037, 1038, 1039, 1040, 102, 2028, 2048, 102]);
    // Single sentences are cut at the end.
    let e = encode_text(&tok, &ex("one two three four", None, None, 1), None, 4, Path::new("x")).unwrap();
    assert_eq!(e.input_ids, [101, 2028, 2048, 102]);
    let err = encode_text(&tok, &ex("a", Some("b"), None, 7), None, 2, Path::new("x.tsv")).unwrap_err();
    assert!(matches!(err, DataError::Tokenize { line: 7, .. }));
    assert_names(&err, "x.tsv", Some(7));
}

#[test]
fn regression_targets_are_scores() {
    let host = host();
    let tok = host.tokenizer();
    let path = Path::new("s.tsv");
    let score = |label| encode_text(&tok, &ex("a", Some("b"), label, 3), None, 16, path);
    assert_eq!(score(Some(RawLabel::Score(3.8))).unwrap().target, Target::Score(3.8));
    assert_eq!(score(class("2.5")).unwrap().target, Target::Score(2.5));
    assert!(matches!(score(class("high")), Err(DataError::BadScore { line: 3, .. })));
}

fn sentence(words: &[&str], tags: &[&str]) -> TaggedSentence {
    TaggedSentence {
        words: words.iter().map(|w| w.to_string()).collect(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        line: 10,
    }
}

#[test]
fn tagging_labels_first_sub_tokens() {
    let host = host();
    let tok = host.tokenizer();
    let map = LabelMap::from_labels(vec!["O".into(), "B-X".into(), "I-X".into()]);
    // "tokenization" is token ##ization; "U.S." is four pre-tokens of one word.
    let s = sentence(&["The", "tokenization", "U.S.", "chef"], &["O", "B-X", "I-X", "O"]);
    let e = encode_tagged(&tok, &s, &map, 128, Path::new("t.txt")).unwrap();
    assert_eq!(e.input_ids, [101, 1996, 19204, 3989, 1057, 1012, 1055, 1012, 10026, 102]);
    assert_eq!(e.target, Target::Tokens(vec![-100, 0, 1, -100, 2, -100, -100, -100, 0, -100]));
    assert_eq!(e.word_starts, [Some(1), Some(2), Some(4), Some(8)]);
    assert_eq!((e.token_type_ids, e.line), (vec![0; 10], 10));

    // max_len 5 leaves 3 tokens: "tokenization" keeps its first sub-token; later words are cut.
    let e = encode_tagged(&tok, &s, &map, 5, Path::new("t.txt")).unwrap();
    assert_eq!(e.input_ids, [101, 1996, 19204, 3989, 102]);
    assert_eq!(e.target, Target::Tokens(vec![-100, 0, 1, -100, -100]));
    assert_eq!(e.word_starts, [Some(1), Some(2), None, None]);
    let e = encode_tagged(&tok, &s, &map, 3, Path::new("t.txt")).unwrap();
    assert_eq!((e.input_ids, e.word_starts), (vec![101, 1996, 102], vec![Some(1), None, None, None]));

    // A word with no tokens (a control character) gets no start; a tag not in the map names its word's line.
    let e = encode_tagged(&tok, &sentence(&["\u{1}", "chef"], &["O", "O"]), &map, 16, Path::new("t")).unwrap();
    assert_eq!((e.input_ids, e.word_starts), (vec![101, 10026, 102], vec![None, Some(1)]));
    let err = encode_tagged(&tok, &sentence(&["a", "b", "c"], &["O", "O", "B-Y"]), &map, 2, Path::new("dev.txt"));
    let err = err.unwrap_err();
    assert!(matches!(&err, DataError::BadLabel { line: 12, label, .. } if label == "B-Y"), "{err:?}");
    assert_names(&err, "dev.txt", Some(12));
}

#[test]
fn whole_files_encode_in_order() {
    let host = host();
    let examples: Vec<_> =
        (0..200).map(|i| ex(&"one two ".repeat(i % 7), None, class(["0", "1"][i % 2]), i + 2)).collect();
    let map = LabelMap::for_task(Task::Sst2, train_labels(&examples)).unwrap();
    let all = encode_all_text(&host, &examples, Some(&map), 12, Path::new("x")).unwrap();
    let one_by_one: Vec<_> =
        examples.iter().map(|e| encode_text(&host.tokenizer(), e, Some(&map), 12, Path::new("x")).unwrap()).collect();
    assert_eq!(all, one_by_one);
    // The first bad example is the one reported.
    let mut bad = examples.clone();
    bad[150].label = class("7");
    bad[40].label = class("9");
    assert!(matches!(
        encode_all_text(&host, &bad, Some(&map), 12, Path::new("x")),
        Err(DataError::BadLabel { line: 42, .. })
    ));

    let sentences = vec![sentence(&["a", "b"], &["O", "B-X"]), sentence(&["c"], &["B-X"])];
    let map = LabelMap::for_task(Task::Tagging, train_tags(&sentences)).unwrap();
    let all = encode_all_tagged(&host, &sentences, &map, 8, Path::new("t")).unwrap();
    assert_eq!(all[1].target, Target::Tokens(vec![-100, 1, -100]));
}

// ---- batching ----

fn encoded_of_lengths(lengths: &[usize]) -> Vec<Encoded> {
    lengths
        .iter()
        .enumerate()
        .map(|(i, &n)| Encoded {
            input_ids: vec![7; n],
            token_type_ids: vec![0; n],
            target: Target::Class(i % 3),
            line: i + 1,
            word_starts: Vec::new(),
        })
        .collect()
}

#[test]
fn epoch_batches_are_a_deterministic_permutation_of_similar_lengths() {
    let mut rng = TrainRng::new(1);
    let lengths: Vec<usize> = (0..1003).map(|_| 3 + rng.below(126)).collect();
    let encoded = encoded_of_lengths(&lengths);
    let batches = epoch_batches(&encoded, 8, &mut TrainRng::new(42));
    let mut all: Vec<usize> = batches.concat();
    all.sort_unstable();
    assert_eq!(all, (0..1003).collect::<Vec<_>>());
    // One window of 800 (100 batches) and one of 203 (26 batches, the last of 3).
    assert_eq!(batches.len(), 126);
    assert_eq!(batches.iter().filter(|b| b.len() != 8).count(), 1);
    assert_eq!(batches, epoch_batches(&encoded, 8, &mut TrainRng::new(42)));
    assert_ne!(batches, epoch_batches(&encoded, 8, &mut TrainRng::new(43)));
    // Similar lengths: a batch spans a few lengths, where random batches of 8 span about 100.
    let spread = |b: &Vec<usize>| {
        let l: Vec<usize> = b.iter().map(|&i| lengths[i]).collect();
        l.iter().max().unwrap() - l.iter().min().unwrap()
    };
    let mean = batches.iter().map(spread).sum::<usize>() as f64 / batches.len() as f64;
    assert!(mean < 8.0, "mean spread {mean}");
    // The batches' order is random, not sorted by length.
    let firsts: Vec<usize> = batches.iter().map(|b| lengths[b[0]]).collect();
    assert!(firsts.windows(2).any(|w| w[0] > w[1]) && firsts.windows(2).any(|w| w[0] < w[1]));
    assert!(epoch_batches(&[], 8, &mut TrainRng::new(1)).is_empty());
    assert_eq!(epoch_batches(&encoded[..3], 0, &mut TrainRng::new(1)).len(), 3);
}

#[test]
fn eval_batches_are_sorted_and_complete() {
    let encoded = encoded_of_lengths(&[3, 9, 5, 9, 2]);
    assert_eq!(eval_batches(&encoded, 2), [vec![1, 3], vec![2, 0], vec![4]]);
}

#[test]
fn pad_batch_pads_to_the_longest() {
    let encoded = vec![
        Encoded {
            input_ids: vec![101, 5, 102, 6, 102],
            token_type_ids: vec![0, 0, 0, 1, 1],
            target: Target::Class(1),
            line: 2,
            word_starts: vec![],
        },
        Encoded {
            input_ids: vec![101, 102],
            token_type_ids: vec![0, 0],
            target: Target::Class(0),
            line: 3,
            word_starts: vec![],
        },
        Encoded {
            input_ids: vec![101, 102],
            token_type_ids: vec![0, 0],
            target: Target::None,
            line: 4,
            word_starts: vec![],
        },
    ];
    let b = pad_batch(&encoded, &[1, 0, 2, 99]);
    assert_eq!((b.batch_size, b.seq_len, b.examples.clone()), (3, 5, vec![1, 0, 2]));
    assert_eq!(b.input_ids, [101, 102, 0, 0, 0, 101, 5, 102, 6, 102, 101, 102, 0, 0, 0]);
    assert_eq!(b.token_type_ids, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(b.attention_mask, [1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    assert_eq!((b.classes, b.scores), (vec![0, 1, -100], vec![]));

    let scored: Vec<Encoded> =
        encoded.iter().cloned().map(|e| Encoded { target: Target::Score(e.line as f32), ..e }).collect();
    let b = pad_batch(&scored, &[2, 0]);
    assert_eq!((b.classes, b.scores), (vec![], vec![4.0, 2.0]));

    let host = host();
    let map = LabelMap::from_labels(vec!["O".into(), "B".into()]);
    let tagged = [sentence(&["chef", "tokenization"], &["B", "O"]), sentence(&["the"], &["B"])]
        .iter()
        .map(|s| encode_tagged(&host.tokenizer(), s, &map, 16, Path::new("t")).unwrap())
        .collect::<Vec<_>>();
    let b = pad_batch(&tagged, &[1, 0]);
    assert_eq!((b.batch_size, b.seq_len), (2, 5));
    assert_eq!(b.classes, [-100, 1, -100, -100, -100, -100, 1, 0, -100, -100]);
    assert!(b.scores.is_empty());
    let empty = pad_batch(&tagged, &[]);
    assert_eq!((empty.batch_size, empty.seq_len, empty.input_ids.len()), (0, 0, 0));
}

/// The byte-level readers (what the fuzz target calls) give what the file readers give, errors included.
#[test]
fn readers_from_bytes_match_the_file_readers() {
    let texts: &[(&str, &str)] = &[
        ("t.tsv", "sentence\tlabel\nhello there\t1\nbad one\t0\n"),
        ("t.tsv", "#1 String\t#2 String\tQuality\n\u{feff}a\tb\t1\n"),
        ("t.csv", "text,label\n\"a, quoted\nfield\",1\nplain,0\n"),
        ("t.csv", "text,label\n\"never closed,1\n"),
        ("t.csv", "a\tb\tc,d\n"),
        ("t.jsonl", "{\"text\": \"x\", \"label\": \"pos\"}\n\n{\"text\": \"y\", \"label\": \"neg\"}\n"),
        ("t.jsonl", "{\"text\": \"x\"\n"),
        ("t.tsv", ""),
    ];
    for &(name, contents) in texts {
        let (_dir, path) = file(name, contents.as_bytes());
        for task in [Task::Custom, Task::Mrpc] {
            let from_file = read_text_examples(&path, task, &Columns::default()).map_err(|e| e.to_string());
            let from_bytes = read_text_examples_from_bytes(&path, contents.as_bytes(), task, &Columns::default())
                .map_err(|e| e.to_string());
            assert_eq!(from_bytes, from_file, "{name}: {contents:?}");
        }
    }
    let conll = "-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nGerman B-MISC\n";
    let (_dir, path) = file("t.conll", conll.as_bytes());
    for column in [None, Some(1), Some(0), Some(5)] {
        let from_file = read_tagged(&path, column).map_err(|e| e.to_string());
        let from_bytes = read_tagged_from_bytes(&path, conll.as_bytes(), column).map_err(|e| e.to_string());
        assert_eq!(from_bytes, from_file, "tag column {column:?}");
    }
    let parquet = read_text_examples_from_bytes(Path::new("t.parquet"), b"PAR1", Task::Custom, &Columns::default());
    assert!(matches!(parquet, Err(DataError::UnknownFormat { .. })));
}
