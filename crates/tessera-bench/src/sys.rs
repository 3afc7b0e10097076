//! What the machine and the server process are doing: resident memory,
//! load average and CPU steal, read from /proc.

/// Current and peak resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Cumulative (total, steal) CPU jiffies.
pub fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let nums: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total = nums.iter().sum();
    let steal = nums.get(7).copied().unwrap_or(0);
    (total, steal)
}

/// Load and steal seen over a measured interval.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct MachineLoad {
    pub load1_end: f64,
    /// Share of CPU time stolen by the hypervisor, in percent.
    pub steal_pct: f64,
}

pub struct LoadProbe {
    start: (u64, u64),
}

impl LoadProbe {
    pub fn start() -> Self {
        LoadProbe {
            start: cpu_jiffies(),
        }
    }

    pub fn finish(self) -> MachineLoad {
        let end = cpu_jiffies();
        let total = end.0.saturating_sub(self.start.0).max(1);
        let steal = end.1.saturating_sub(self.start.1);
        MachineLoad {
            load1_end: load1(),
            steal_pct: 100.0 * steal as f64 / total as f64,
        }
    }
}
