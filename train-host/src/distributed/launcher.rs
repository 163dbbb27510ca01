//! What the launcher (`mpirun`, `srun`) says about the world, read from its environment variables.
//!
//! The sanity check compares it with the world MPI reports: a `srun` without MPI support, or a binary built
//! without the `mpi` feature, would otherwise start N independent copies of rank 0.

use super::DistError;

/// The world size (or rank) a launcher announced, and the variable it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LauncherWorld {
    pub var: &'static str,
    pub size: usize,
}

/// Variables holding the number of processes, most specific first: OpenMPI, MPICH/Intel MPI (PMI), Slurm.
const SIZE_VARS: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"];
/// Variables holding this process's rank, in the same order.
const RANK_VARS: [&str; 4] = ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"];

fn first_number(vars: &[&'static str], env: &impl Fn(&str) -> Option<String>) -> Option<LauncherWorld> {
    vars.iter().find_map(|&var| env(var).and_then(|v| v.trim().parse().ok()).map(|size| LauncherWorld { var, size }))
}

/// The world size announced by the launcher, if the process was started by one.
pub fn launcher_world_size(env: impl Fn(&str) -> Option<String>) -> Option<LauncherWorld> {
    first_number(&SIZE_VARS, &env)
}

/// This process's rank as announced by the launcher (the `size` field holds the rank).
pub fn launcher_rank(env: impl Fn(&str) -> Option<String>) -> Option<LauncherWorld> {
    first_number(&RANK_VARS, &env)
}

/// Fails when the launcher announced another number of processes than the world has.
pub fn check_world_size(world_size: usize, launcher: Option<LauncherWorld>) -> Result<(), DistError> {
    match launcher {
        Some(l) if l.size != world_size => {
            Err(DistError::WorldSizeMismatch { launcher_var: l.var, launcher_size: l.size, world_size })
        }
        _ => Ok(()),
    }
}

/// Variables holding how many ranks the launcher put on this machine: OpenMPI, MPICH/Hydra, Slurm.
const LOCAL_SIZE_VARS: [&str; 3] = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"];
/// This rank's index on its machine, in the same order (only local rank 0 prints the warning).
const LOCAL_RANK_VARS: [&str; 3] = ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"];

/// Logical CPUs of this machine (`/sys/devices/system/cpu/online`, e.g. `0-15` or `0,2-3`), whatever this
/// process's affinity.
fn machine_cpus() -> Option<usize> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    parse_cpu_list(&online)
}

fn parse_cpu_list(list: &str) -> Option<usize> {
    list.trim().split(',').try_fold(0usize, |n, part| match part.split_once('-') {
        Some((a, b)) => Some(n + b.trim().parse::<usize>().ok()?.checked_sub(a.trim().parse().ok()?)? + 1),
        None => part.trim().parse::<usize>().ok().map(|_| n + 1),
    })
}

/// A warning when this machine's ranks × each rank's threads exceed its cores, or one rank's threads exceed the
/// cores it may run on (a rank bound to one core with 2 threads): the threads would then time-share cores, and
/// every rank waits in each allreduce for the slowest. `None` when fine, or when not started by a launcher.
pub fn oversubscription(env: impl Fn(&str) -> Option<String>, threads: usize) -> Option<String> {
    let local = first_number(&LOCAL_SIZE_VARS, &env)?;
    if first_number(&LOCAL_RANK_VARS, &env).is_some_and(|r| r.size != 0) {
        return None;
    }
    let allowed = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    oversubscription_of(local.size, threads, allowed, machine_cpus().unwrap_or(allowed))
}

fn oversubscription_of(local_ranks: usize, threads: usize, allowed: usize, machine: usize) -> Option<String> {
    let hint = "set RAYON_NUM_THREADS (threads per rank) so that ranks per machine × threads ≤ cores, and bind \
                each rank to its cores (mpirun --bind-to core --map-by slot:PE=<threads>, srun --cpus-per-task)";
    if local_ranks * threads > machine {
        Some(format!("{local_ranks} ranks × {threads} threads on a machine of {machine} logical CPUs; {hint}"))
    } else if threads > allowed {
        Some(format!("{threads} threads per rank, but this rank may run on {allowed} CPU(s) only; {hint}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn openmpi_wins_over_slurm() {
        let env = env_of(&[("SLURM_NTASKS", "8"), ("OMPI_COMM_WORLD_SIZE", "4")]);
        assert_eq!(launcher_world_size(env), Some(LauncherWorld { var: "OMPI_COMM_WORLD_SIZE", size: 4 }));
    }

    #[test]
    fn srun_without_mpi_is_caught() {
        let launcher = launcher_world_size(env_of(&[("SLURM_NTASKS", "4")]));
        let err = check_world_size(1, launcher).err();
        assert_eq!(
            err,
            Some(DistError::WorldSizeMismatch { launcher_var: "SLURM_NTASKS", launcher_size: 4, world_size: 1 })
        );
        assert!(check_world_size(4, launcher).is_ok());
        assert!(check_world_size(1, None).is_ok());
    }

    #[test]
    fn rank_comes_from_the_same_launcher() {
        let env = env_of(&[("PMI_RANK", "3"), ("PMI_SIZE", "4")]);
        assert_eq!(launcher_rank(env), Some(LauncherWorld { var: "PMI_RANK", size: 3 }));
    }

    #[test]
    fn oversubscription_is_flagged() {
        assert_eq!(parse_cpu_list("0-15\n"), Some(16));
        assert_eq!(parse_cpu_list("0,2-3"), Some(3));
        assert_eq!(parse_cpu_list("x"), None);
        assert!(oversubscription_of(2, 1, 1, 2).is_none(), "2 ranks bound to 1 core each");
        assert!(oversubscription_of(2, 2, 2, 2).is_some(), "2 ranks × 2 threads on 2 CPUs");
        assert!(oversubscription_of(1, 2, 1, 16).is_some(), "2 threads bound to 1 CPU");
        assert!(oversubscription_of(4, 4, 16, 16).is_none());
        assert!(oversubscription(env_of(&[]), 64).is_none(), "no launcher, no warning");
        assert!(oversubscription(
            env_of(&[("OMPI_COMM_WORLD_LOCAL_SIZE", "2"), ("OMPI_COMM_WORLD_LOCAL_RANK", "1")]),
            64
        )
        .is_none());
    }
}
