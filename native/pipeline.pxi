# SPDX-License-Identifier: MIT
# Zones' nodes compiled on two CPUs.  The nodes are planned chunk by chunk (plan.pxi:
# lookups and replies rendered, without the GIL) by whichever thread is free: a thread of
# its own, and the caller's when it would otherwise wait.  The caller alone makes the puts,
# in node order (ImageBuilder.replay_node), zone after zone.  Only the puts decide where
# each blob goes, and they are made in the order a single thread makes them: the image is
# the same bytes.  If planning fails (a zone the native compiler does not handle), the
# caller plans the rest itself and meets the same error, raised where one thread raises it.

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
        pass
    int pthread_mutex_init(pthread_mutex_t* m, const void* attr)
    int pthread_mutex_destroy(pthread_mutex_t* m)
    int pthread_mutex_lock(pthread_mutex_t* m)
    int pthread_mutex_unlock(pthread_mutex_t* m)
    int pthread_cond_init(pthread_cond_t* c, const void* attr)
    int pthread_cond_destroy(pthread_cond_t* c)
    int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m)
    int pthread_cond_broadcast(pthread_cond_t* c)

cdef enum:
    N_SLOTS = 4                 # chunks planned ahead, at most
    FREE = -1

cdef uint32_t chunk_nodes = 512             # nodes planned per hand-over
cdef uint32_t pipeline_min_nodes = 16384    # fewer in all: the thread would not pay for its start


def set_pipeline(uint32_t min_nodes, uint32_t chunk) -> tuple:
    """Zones of min_nodes nodes or more are planned on a thread of their own, chunk nodes at
    a time (for tests: a small zone through the pipeline); returns the settings before."""
    global chunk_nodes, pipeline_min_nodes
    before = (pipeline_min_nodes, chunk_nodes)
    if chunk == 0:
        raise ValueError("chunk must be at least 1")
    pipeline_min_nodes, chunk_nodes = min_nodes, chunk
    return before


ctypedef struct job_t:
    # the nodes one write_nodes call compiles, as the planning thread reads them: the zones
    # (borrowed: the caller's lists hold them) and, in node order, each node's zone and name
    PyObject** zones
    PyObject** parents      # None where a zone has no served zone above it
    uint32_t* node_zone
    uint32_t* node_name
    uint32_t total
    uint16_t other
    bint minimal


cdef int plan_nodes(planner_t* pl, buf_t* out, const job_t* job, uint32_t start, uint32_t end) except -1 nogil:
    """The plans of the job's nodes start to end, appended to out."""
    cdef uint32_t j, k
    for j in range(start, end):
        k = job.node_zone[j]
        plan_node(pl, out, <NativeZone>job.zones[k], <NativeZone>job.parents[k], k, job.node_name[j],
                  job.other, job.minimal)
    return 0


cdef enum:
    PLANNING = -2               # a slot's state: a thread is planning the chunk it claimed


cdef class _Planner:
    """The chunks of a job, planned by whichever thread claims each first: the planning
    thread claims them one after the other; the caller, which puts them in order, claims
    the next one itself rather than wait for the one it needs (the two CPUs stay busy
    whichever side is slower).  A chunk goes into slot chunk % N_SLOTS once the chunk
    N_SLOTS before it is put."""

    cdef const job_t* job
    cdef uint32_t chunk                 # nodes per chunk
    cdef uint32_t chunks
    cdef planner_t pl                   # the planning thread's
    cdef buf_t plans[N_SLOTS]
    cdef uint32_t counts[N_SLOTS]       # nodes planned in each slot
    cdef int64_t chunk_in[N_SLOTS]      # the chunk a slot holds, ready; FREE; PLANNING
    cdef uint32_t next_claim            # the first chunk nobody has claimed
    cdef bint stop                      # the caller needs no more
    cdef bint done                      # the thread has returned (early: planning failed)
    cdef pthread_mutex_t lock
    cdef pthread_cond_t changed

    def __cinit__(self):
        cdef int s
        for s in range(N_SLOTS):
            self.plans[s].data = NULL
            self.chunk_in[s] = FREE
        self.pl.w = NULL
        self.pl.r_default = NULL
        self.pl.r_query = NULL
        pthread_mutex_init(&self.lock, NULL)
        pthread_cond_init(&self.changed, NULL)

    def __dealloc__(self):
        cdef int s
        for s in range(N_SLOTS):
            buf_free(&self.plans[s])
        planner_free(&self.pl)
        pthread_cond_destroy(&self.changed)
        pthread_mutex_destroy(&self.lock)

    cdef int setup(self, const job_t* job, uint32_t chunk) except -1:
        cdef int s
        self.job, self.chunk = job, chunk
        self.chunks = (job.total + chunk - 1) // chunk
        planner_init(&self.pl)
        for s in range(N_SLOTS):
            buf_init(&self.plans[s], 1 << 20)
        return 0

    def run(self) -> None:
        """The planning thread: claim and plan chunks until none is left."""
        try:
            with nogil:
                self.plan_all()
        finally:
            with nogil:
                pthread_mutex_lock(&self.lock)
                self.done = 1
                pthread_cond_broadcast(&self.changed)
                pthread_mutex_unlock(&self.lock)

    cdef int plan_all(self) except -1 nogil:
        cdef int64_t c
        while True:
            pthread_mutex_lock(&self.lock)
            c = self.claim()
            while c == FREE and not self.stop and self.next_claim < self.chunks:
                pthread_cond_wait(&self.changed, &self.lock)
                c = self.claim()
            pthread_mutex_unlock(&self.lock)
            if c == FREE:
                return 0
            self.plan_chunk(&self.pl, <uint32_t>c)

    cdef int64_t claim(self) noexcept nogil:
        """The next chunk, marked as being planned, when its slot is free; FREE if not
        (the lock held)."""
        cdef uint32_t c = self.next_claim
        if self.stop or c >= self.chunks or self.chunk_in[c % N_SLOTS] != FREE:
            return FREE
        self.chunk_in[c % N_SLOTS] = PLANNING
        self.next_claim += 1
        return c

    cdef int plan_chunk(self, planner_t* pl, uint32_t c) except -1 nogil:
        """Plan chunk c (claimed) into its slot, then hand it over."""
        cdef int s = c % N_SLOTS
        self.plans[s].len = 0
        self.counts[s] = min(self.job.total, (c + 1) * self.chunk) - c * self.chunk
        plan_nodes(pl, &self.plans[s], self.job, c * self.chunk, c * self.chunk + self.counts[s])
        pthread_mutex_lock(&self.lock)
        self.chunk_in[s] = c
        pthread_cond_broadcast(&self.changed)
        pthread_mutex_unlock(&self.lock)
        return 0

    cdef int wait_for(self, uint32_t c, planner_t* pl) except -1 nogil:
        """Until chunk c is planned, plan the next unclaimed chunk with pl, or wait.
        Returns 1 when c is ready, 0 when the planning thread stopped while planning it
        (then the caller plans c itself, and meets the error that stopped it)."""
        cdef int s = c % N_SLOTS
        cdef int64_t mine
        pthread_mutex_lock(&self.lock)
        while self.chunk_in[s] != c:
            if self.chunk_in[s] == PLANNING and self.done:
                pthread_mutex_unlock(&self.lock)
                return 0
            mine = self.claim()
            if mine != FREE:
                pthread_mutex_unlock(&self.lock)
                self.plan_chunk(pl, <uint32_t>mine)
                pthread_mutex_lock(&self.lock)
            else:
                pthread_cond_wait(&self.changed, &self.lock)
        pthread_mutex_unlock(&self.lock)
        return 1

    cdef void release(self, uint32_t c, bint stop) noexcept nogil:
        """Chunk c's slot is free again; stop: no more chunks are wanted."""
        pthread_mutex_lock(&self.lock)
        if self.chunk_in[c % N_SLOTS] == c:
            self.chunk_in[c % N_SLOTS] = FREE
        if stop:
            self.stop = 1
        pthread_cond_broadcast(&self.changed)
        pthread_mutex_unlock(&self.lock)


cdef class _Replay:
    """The caller's side of write_nodes: the puts of the plans, zone after zone."""

    cdef ImageBuilder b
    cdef list zones
    cdef list parents
    cdef list zone_indexes
    cdef uint8_t* out
    cdef uint64_t nodes_base
    cdef int64_t zone                   # the zone being written, -1 before the first
    cdef NativeZone z
    cdef NativeZone parent
    cdef uint16_t zone_index
    cdef list sizes                     # data bytes each zone's nodes added
    cdef uint64_t zone_start
    cdef object progress
    cdef list labels
    cdef uint32_t done, total, step     # the zone's nodes written, of total; report every step

    cdef int switch(self, uint32_t k, uint32_t total) except -1:
        """The nodes that follow are zone k's (total of them)."""
        self.finish_zone()
        self.zone = k
        self.z, self.parent = self.zones[k], self.parents[k]
        self.zone_index = self.zone_indexes[k]
        self.zone_start = self.b.data.len
        self.done, self.total = 0, total
        self.step = total // 10 if self.progress is not None and total >= 20000 else 0
        return 0

    cdef int finish_zone(self) except -1:
        if self.zone >= 0:
            self.sizes.append(self.b.data.len - self.zone_start)
        return 0

    cdef int replay(self, uint8_t* plans, uint32_t count, const uint32_t* zone_totals) except -1:
        """The puts of count plans back to back, each node written at its number in out."""
        cdef uint32_t j
        cdef uint8_t* plan = plans
        cdef uint8_t* next_plan
        cdef const node_plan_t* np
        for j in range(count):
            np = <const node_plan_t*>plan
            if <int64_t>np.zone != self.zone:
                self.switch(np.zone, zone_totals[np.zone])
            next_plan = plan + np.size
            if j + 1 < count:
                self.b.prefetch_plan(next_plan)
            self.b.replay_node(self.z, self.parent, self.zone_index, plan,
                               self.out + (self.z.names[np.name].node - self.nodes_base) * NODE_SIZE)
            self.done += 1
            if self.step and self.done % self.step == 0:
                self.progress(self.labels[self.zone], self.done, self.total)
            plan = next_plan
        return 0


def write_nodes(ImageBuilder b, list zones, list parents, list zone_indexes, uint16_t other, bint minimal,
                bytearray nodes, uint64_t nodes_base, progress=None, list labels=None) -> list:
    """Every node of the zones into nodes (at their numbers, relative to nodes_base), zone
    after zone: zone_indexes are their numbers in the image, parents the served zones just
    above them (or None).  Returns the data bytes each zone's nodes added."""
    cdef uint32_t n = len(zones), k, i, total = 0, c, chunks, chunk = chunk_nodes, count
    cdef job_t job
    cdef _Planner planner = None
    cdef _Replay replay = _Replay()
    cdef NativeZone z
    cdef bint ready
    cdef uint32_t* zone_totals = <uint32_t*>malloc((n + 1) * sizeof(uint32_t))
    job.zones = <PyObject**>malloc((n + 1) * sizeof(PyObject*))
    job.parents = <PyObject**>malloc((n + 1) * sizeof(PyObject*))
    job.node_zone = job.node_name = NULL
    thread = None
    try:
        if zone_totals == NULL or job.zones == NULL or job.parents == NULL:
            raise MemoryError()
        for k in range(n):
            z = zones[k]
            job.zones[k] = <PyObject*>z
            job.parents[k] = <PyObject*>parents[k]
            zone_totals[k] = 0
            for i in range(z.name_count):
                if z.names[i].node >= 0:
                    zone_totals[k] += 1
            total += zone_totals[k]
        job.node_zone = <uint32_t*>malloc((total + 1) * sizeof(uint32_t))
        job.node_name = <uint32_t*>malloc((total + 1) * sizeof(uint32_t))
        if job.node_zone == NULL or job.node_name == NULL:
            raise MemoryError()
        job.total, job.other, job.minimal = 0, other, minimal
        for k in range(n):
            z = zones[k]
            for i in range(z.name_count):
                if z.names[z.sorted_names[i]].node >= 0:
                    job.node_zone[job.total] = k
                    job.node_name[job.total] = z.sorted_names[i]
                    job.total += 1
        replay.b, replay.zones, replay.parents, replay.zone_indexes = b, zones, parents, zone_indexes
        replay.out, replay.nodes_base, replay.zone, replay.sizes = <uint8_t*>nodes, nodes_base, -1, []
        replay.progress, replay.labels = progress, labels
        planner_forget(&b.pl)
        chunks = (total + chunk - 1) // chunk
        if total >= pipeline_min_nodes:
            planner = _Planner()
            planner.setup(&job, chunk)
            thread = _start_thread(planner.run)
        try:
            for c in range(chunks):
                count = min(total, (c + 1) * chunk) - c * chunk
                if planner is not None:
                    with nogil:
                        ready = planner.wait_for(c, &b.pl)
                    if ready:
                        replay.replay(planner.plans[c % N_SLOTS].data, count, zone_totals)
                        planner.release(c, 0)
                    else:  # planning stopped: plan the rest here (and meet its error)
                        planner.release(chunks, 1)
                        planner = None
                if planner is None:
                    b.plan.len = 0
                    plan_nodes(&b.pl, &b.plan, &job, c * chunk, c * chunk + count)
                    replay.replay(b.plan.data, count, zone_totals)
        finally:
            if thread is not None:
                if planner is not None:
                    planner.release(chunks, 1)
                thread.join()
        replay.finish_zone()
        if len(replay.sizes) != n:  # every zone has a node: its apex
            raise ValueError("a zone without nodes")
        return replay.sizes
    finally:
        free(zone_totals)
        free(job.zones)
        free(job.parents)
        free(job.node_zone)
        free(job.node_name)


def write_zone_nodes(ImageBuilder b, NativeZone z, NativeZone parent, uint16_t zone_index,
                     uint16_t other, bint minimal, bytearray nodes, uint64_t nodes_base,
                     progress=None, str label="") -> None:
    """Every node of z into nodes (at their numbers, relative to nodes_base)."""
    write_nodes(b, [z], [parent], [zone_index], other, minimal, nodes, nodes_base, progress, [label])


def _start_thread(target):
    """target on a thread of its own, at the caller's priority (a reload's, if lowered)."""
    import os
    import threading

    nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def run() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
            target()
        except BaseException:
            pass  # the caller sees where planning stopped, and plans the rest itself

    thread = threading.Thread(target=run, name="fastdns-plan", daemon=True)
    thread.start()
    return thread
