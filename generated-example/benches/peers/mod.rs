//! The peer engines the benches time against ours, each in a worker
//! process (`tools/ort_worker.py`, `tools/litert_worker.py`), and what the
//! benches share.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The peer engines.
#[derive(Debug, Clone, Copy)]
pub enum Engine {
    OnnxRuntime,
    LiteRt,
}

impl Engine {
    pub const ALL: [Engine; 2] = [Engine::OnnxRuntime, Engine::LiteRt];

    pub fn name(self) -> &'static str {
        match self {
            Engine::OnnxRuntime => "onnxruntime",
            Engine::LiteRt => "litert",
        }
    }

    /// The worker's python, its script and the model file of `model`.
    fn files(self, model: &str) -> (PathBuf, PathBuf, PathBuf) {
        let peers = repo().join("../shared/peers");
        match self {
            Engine::OnnxRuntime => (
                peers.join(".venv-peers/bin/python"),
                repo().join("tools/ort_worker.py"),
                peers.join(format!("{model}.onnx")),
            ),
            Engine::LiteRt => (
                peers.join("litert/.venv/bin/python"),
                repo().join("tools/litert_worker.py"),
                peers.join("litert/models").join(format!("{model}.tflite")),
            ),
        }
    }

    fn setup(self) -> &'static str {
        match self {
            Engine::OnnxRuntime => "../shared/peers/setup.sh",
            Engine::LiteRt => "../shared/peers/litert/setup.sh",
        }
    }
}

/// A peer engine in a worker process.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// Starts `engine`'s worker on the model of fixture `model` with
    /// `threads` threads, running batches of `batch` copies of image 0
    /// (ONNX Runtime only; LiteRT's models take one image).
    pub fn start(engine: Engine, model: &str, fixture: &Path, threads: usize, batch: usize) -> Option<Peer> {
        let (python, script, file) = engine.files(model);
        if !python.exists() || !file.exists() {
            eprintln!("  {} not set up ({}): skipped", engine.name(), engine.setup());
            return None;
        }
        let mut child = Command::new(python)
            .arg(script)
            .arg(file)
            .arg(fixture)
            .arg(threads.to_string())
            .args((batch > 1).then(|| batch.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        let mut stdout = BufReader::new(child.stdout.take()?);
        let mut line = String::new();
        stdout.read_line(&mut line).ok()?;
        eprintln!("  {} {}", engine.name(), line.trim());
        Some(Peer { child, stdin, stdout })
    }

    /// Durations in ms of `n` runs.
    pub fn run(&mut self, n: usize) -> Vec<f64> {
        writeln!(self.stdin, "{n}").expect("worker alive");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("worker answers");
        line.split_whitespace().map(|t| t.parse().expect("a duration")).collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Image 0 of the fixture, or a synthetic image.
pub fn image(fixture: &Path, len: usize) -> Vec<f32> {
    let path = fixture.join("input.npy");
    if let Ok(bytes) = std::fs::read(&path) {
        let npy = npyz::NpyFile::new(&bytes[..]).expect("npy");
        let data: Vec<f32> = npy.into_vec().expect("f32");
        return data[..len].to_vec();
    }
    (0..len).map(|i| ((i * 7919) % 255) as f32 / 127.5 - 1.0).collect()
}

/// A network or peer timed by `n` runs on one image: the durations in ms.
pub type Timer<'a> = Box<dyn FnMut(usize) -> Vec<f64> + 'a>;

/// Our network `net` (either precision) timed on image `x`, on the pool's
/// threads when it has several; its arena and scratch are made once.
pub fn timer<'a, N: mobilenet_runtime::Network>(
    net: &'a N,
    pool: &'a mobilenet_runtime::exec::Pool,
    x: &'a [f32],
) -> Timer<'a> {
    use mobilenet_runtime::exec::Exec;
    let mut y = vec![0.0; N::OUTPUT_LEN];
    let mut arena = mobilenet_runtime::buffer::Buffer::<N::Elem>::zeroed(N::ARENA_LEN);
    let mut scratch = vec![N::Elem::default(); pool.threads() * N::SCRATCH_LEN];
    Box::new(move |n| {
        (0..n)
            .map(|_| {
                let t = std::time::Instant::now();
                if pool.threads() == 1 {
                    net.run(std::hint::black_box(x), &mut y, &mut arena);
                } else {
                    net.run_on(pool, std::hint::black_box(x), &mut y, &mut arena, &mut scratch);
                }
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect()
    })
}
