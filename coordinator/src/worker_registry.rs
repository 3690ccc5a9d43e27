//! Registered workers, their free slots and liveness.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fathom_core::ids::WorkerId;
use fathom_proto::WorkerServiceClient;
use tonic::transport::Channel;

pub struct WorkerEntry {
    pub address: String,
    pub slots: u32,
    /// Attempts launched there and not yet reported, queued ones included.
    pub running: u32,
    pub last_heartbeat: Instant,
    pub client: WorkerServiceClient<Channel>,
}

impl WorkerEntry {
    /// Attempts this worker may hold at once, running or queued.
    pub fn capacity(&self) -> u32 {
        self.slots * fathom_core::TASKS_PER_SLOT
    }
}

#[derive(Default)]
pub struct WorkerRegistry {
    workers: BTreeMap<WorkerId, WorkerEntry>,
}

impl WorkerRegistry {
    pub fn register(&mut self, id: WorkerId, entry: WorkerEntry) {
        self.workers.insert(id, entry);
    }

    /// Returns false when the worker is unknown (it must register again).
    pub fn heartbeat(&mut self, id: &WorkerId) -> bool {
        match self.workers.get_mut(id) {
            Some(entry) => {
                entry.last_heartbeat = Instant::now();
                true
            }
            None => false,
        }
    }

    /// Removes and returns workers silent for longer than `timeout`.
    pub fn expire(&mut self, timeout: Duration) -> Vec<WorkerId> {
        let now = Instant::now();
        let dead: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, entry)| now.duration_since(entry.last_heartbeat) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &dead {
            self.workers.remove(id);
        }
        dead
    }

    /// The worker with the most room, if any has some: a worker holds up to
    /// [`fathom_core::TASKS_PER_SLOT`] attempts per slot, the ones beyond its slots queued.
    pub fn take_slot(&mut self) -> Option<(WorkerId, WorkerServiceClient<Channel>)> {
        let (id, entry) = self
            .workers
            .iter_mut()
            .filter(|(_, entry)| entry.running < entry.capacity())
            .max_by_key(|(_, entry)| entry.capacity() - entry.running)?;
        entry.running += 1;
        Some((id.clone(), entry.client.clone()))
    }

    /// Attempts the workers can still take, over every worker.
    pub fn free_slots(&self) -> usize {
        self.workers.values().map(|entry| entry.capacity().saturating_sub(entry.running) as usize).sum()
    }

    pub fn release_slot(&mut self, id: &WorkerId) {
        if let Some(entry) = self.workers.get_mut(id) {
            entry.running = entry.running.saturating_sub(1);
        }
    }

    pub fn worker_ids(&self) -> Vec<WorkerId> {
        self.workers.keys().cloned().collect()
    }

    pub fn total_slots(&self) -> u32 {
        self.workers.values().map(|entry| entry.slots).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    pub fn len(&self) -> usize {
        self.workers.len()
    }
}
