//! `linux.resources` of config.json (and of `update --resources`), typed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Resources {
    pub devices: Vec<DeviceRule>,
    pub memory: Option<Memory>,
    pub cpu: Option<Cpu>,
    pub pids: Option<Pids>,
    #[serde(rename = "blockIO")]
    pub block_io: Option<BlockIo>,
    pub hugepage_limits: Vec<Hugepage>,
    pub network: Option<Network>,
    pub rdma: BTreeMap<String, Rdma>,
    pub unified: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceRule {
    pub allow: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Memory {
    pub limit: Option<i64>,
    pub reservation: Option<i64>,
    pub swap: Option<i64>,
    pub kernel: Option<i64>,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: Option<i64>,
    pub swappiness: Option<u64>,
    #[serde(rename = "disableOOMKiller")]
    pub disable_oom_killer: Option<bool>,
    pub use_hierarchy: Option<bool>,
    pub check_before_update: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Cpu {
    pub shares: Option<u64>,
    pub quota: Option<i64>,
    pub burst: Option<u64>,
    pub period: Option<u64>,
    pub realtime_runtime: Option<i64>,
    pub realtime_period: Option<u64>,
    pub cpus: Option<String>,
    pub mems: Option<String>,
    pub idle: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pids {
    pub limit: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BlockIo {
    pub weight: Option<u16>,
    pub leaf_weight: Option<u16>,
    pub weight_device: Vec<WeightDevice>,
    pub throttle_read_bps_device: Vec<ThrottleDevice>,
    pub throttle_write_bps_device: Vec<ThrottleDevice>,
    #[serde(rename = "throttleReadIOPSDevice")]
    pub throttle_read_iops_device: Vec<ThrottleDevice>,
    #[serde(rename = "throttleWriteIOPSDevice")]
    pub throttle_write_iops_device: Vec<ThrottleDevice>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WeightDevice {
    pub major: i64,
    pub minor: i64,
    pub weight: Option<u16>,
    pub leaf_weight: Option<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleDevice {
    pub major: i64,
    pub minor: i64,
    pub rate: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Hugepage {
    pub page_size: String,
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Network {
    #[serde(rename = "classID")]
    pub class_id: Option<u32>,
    pub priorities: Vec<NetPriority>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetPriority {
    pub name: String,
    pub priority: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Rdma {
    pub hca_handles: Option<u32>,
    pub hca_objects: Option<u32>,
}

impl Resources {
    /// Parses the raw `linux.resources` value kept in the spec.
    pub fn from_value(v: Option<&serde_json::Value>) -> Result<Resources, serde_json::Error> {
        match v {
            None | Some(serde_json::Value::Null) => Ok(Resources::default()),
            Some(v) => serde_json::from_value(v.clone()),
        }
    }

    /// Overlays the fields `other` sets (what `update` does to the stored resources).
    pub fn merge(&mut self, other: &Resources) {
        if let Some(m) = &other.memory {
            let cur = self.memory.get_or_insert_with(Memory::default);
            macro_rules! take { ($($f:ident)*) => ($(if m.$f.is_some() { cur.$f = m.$f; })*) }
            take!(limit reservation swap kernel kernel_tcp swappiness disable_oom_killer use_hierarchy check_before_update);
        }
        if let Some(c) = &other.cpu {
            let cur = self.cpu.get_or_insert_with(Cpu::default);
            macro_rules! take { ($($f:ident)*) => ($(if c.$f.is_some() { cur.$f = c.$f.clone(); })*) }
            take!(shares quota burst period realtime_runtime realtime_period cpus mems idle);
        }
        if other.pids.is_some() {
            self.pids = other.pids.clone();
        }
        if other.block_io.is_some() {
            self.block_io = other.block_io.clone();
        }
        if !other.hugepage_limits.is_empty() {
            self.hugepage_limits = other.hugepage_limits.clone();
        }
        if other.network.is_some() {
            self.network = other.network.clone();
        }
        if !other.rdma.is_empty() {
            self.rdma = other.rdma.clone();
        }
        self.unified
            .extend(other.unified.iter().map(|(k, v)| (k.clone(), v.clone())));
        if !other.devices.is_empty() {
            self.devices = other.devices.clone();
        }
    }
}
