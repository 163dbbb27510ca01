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
}
