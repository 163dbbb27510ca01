use electra_train::model::gemm::{matmul, Threads};
use ndarray::Array2;
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = stat.rsplit(')').next().unwrap();
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
fn main() {
    for (m, k, n) in [(1024, 256, 1024), (1024, 1024, 256), (1024, 256, 768), (154, 128, 30522), (128, 64, 128)] {
        let a = Array2::from_shape_fn((m, k), |(i, j)| ((i + j) % 7) as f32);
        let b = Array2::from_shape_fn((n, k), |(i, j)| ((i * 3 + j) % 5) as f32);
        let mut c = Array2::<f32>::zeros((m, n));
        let reps = (20e9 / (2.0 * (m * n * k) as f64)) as usize;
        let t0 = cpu();
        for _ in 0..reps {
            matmul(a.view(), b.t(), c.view_mut(), false, Threads::One);
        }
        let dt = cpu() - t0;
        println!("{m}x{k}x{n}: {:.1} GFLOP/s per core (CPU time)", 2.0 * (m * n * k * reps) as f64 / dt / 1e9);
    }
}
