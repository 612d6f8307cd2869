# SPDX-License-Identifier: MIT
# A zone's nodes compiled on two CPUs: a thread plans the nodes (plan.pxi: lookups and
# replies rendered, without the GIL) a chunk ahead, while the caller's thread makes their
# puts in node order (ImageBuilder.replay_node).  Only the puts decide where each blob goes,
# and they are made in the order a single thread makes them: the image is the same bytes.
# If planning fails (a zone the native compiler does not handle), the caller plans the
# rest itself and meets the same error, raised where a single thread raises it.

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
cdef uint32_t pipeline_min_nodes = 16384    # fewer: the thread would not pay for its start


def set_pipeline(uint32_t min_nodes, uint32_t chunk) -> tuple:
    """Zones of min_nodes nodes or more are planned on a thread of their own, chunk nodes at
    a time (for tests: a small zone through the pipeline); returns the settings before."""
    global chunk_nodes, pipeline_min_nodes
    before = (pipeline_min_nodes, chunk_nodes)
    if chunk == 0:
        raise ValueError("chunk must be at least 1")
    pipeline_min_nodes, chunk_nodes = min_nodes, chunk
    return before


cdef class _Planner:
    """The planning thread's side: its planner, and the slots it hands chunks over in."""

    cdef NativeZone z
    cdef NativeZone parent
    cdef uint16_t other
    cdef bint minimal
    cdef const uint32_t* order          # the names of the nodes, in node order
    cdef uint32_t total
    cdef uint32_t chunk                 # nodes per chunk
    cdef planner_t pl
    cdef buf_t plans[N_SLOTS]
    cdef uint32_t counts[N_SLOTS]       # nodes planned in each slot
    cdef int64_t chunk_in[N_SLOTS]      # the chunk a slot holds, ready; FREE
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

    cdef int setup(self, NativeZone z, NativeZone parent, uint16_t other, bint minimal,
                   const uint32_t* order, uint32_t total) except -1:
        cdef int s
        self.z, self.parent, self.other, self.minimal = z, parent, other, minimal
        self.order, self.total, self.chunk = order, total, chunk_nodes
        planner_init(&self.pl)
        for s in range(N_SLOTS):
            buf_init(&self.plans[s], 1 << 20)
        return 0

    def run(self) -> None:
        """The thread: plan every chunk, each into the next free slot."""
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
        cdef uint32_t c, j, end
        cdef int s
        for c in range((self.total + self.chunk - 1) // self.chunk):
            s = c % N_SLOTS
            pthread_mutex_lock(&self.lock)
            while self.chunk_in[s] != FREE and not self.stop:
                pthread_cond_wait(&self.changed, &self.lock)
            pthread_mutex_unlock(&self.lock)
            if self.stop:
                return 0
            self.plans[s].len = 0
            self.counts[s] = 0
            end = min(self.total, (c + 1) * self.chunk)
            for j in range(c * self.chunk, end):
                plan_node(&self.pl, &self.plans[s], self.z, self.parent, self.order[j], self.other, self.minimal)
                self.counts[s] += 1
            pthread_mutex_lock(&self.lock)
            self.chunk_in[s] = c
            pthread_cond_broadcast(&self.changed)
            pthread_mutex_unlock(&self.lock)
        return 0

    cdef bint wait_for(self, uint32_t c) noexcept nogil:
        """Wait until chunk c is planned: False when the thread stopped before it."""
        cdef int s = c % N_SLOTS
        cdef bint ready
        pthread_mutex_lock(&self.lock)
        while self.chunk_in[s] != c and not self.done:
            pthread_cond_wait(&self.changed, &self.lock)
        ready = self.chunk_in[s] == c
        pthread_mutex_unlock(&self.lock)
        return ready

    cdef void release(self, uint32_t c, bint stop) noexcept nogil:
        """Chunk c's slot is free again; stop: no more chunks are wanted."""
        pthread_mutex_lock(&self.lock)
        if self.chunk_in[c % N_SLOTS] == c:
            self.chunk_in[c % N_SLOTS] = FREE
        if stop:
            self.stop = 1
        pthread_cond_broadcast(&self.changed)
        pthread_mutex_unlock(&self.lock)


cdef int _replay_chunk(ImageBuilder b, NativeZone z, NativeZone parent, uint16_t zone_index, bytes nxdomain,
                       uint8_t* plans, uint32_t count, uint8_t* out, uint64_t nodes_base) except -1:
    """The puts of count plans back to back, each node written at its number in out."""
    cdef uint32_t j
    cdef uint8_t* plan = plans
    cdef uint8_t* next_plan
    for j in range(count):
        next_plan = plan + (<node_plan_t*>plan).size
        if j + 1 < count:
            b.prefetch_plan(next_plan)
        b.replay_node(z, parent, zone_index, nxdomain, plan,
                      out + (z.names[(<node_plan_t*>plan).name].node - nodes_base) * NODE_SIZE)
        plan = next_plan
    return 0


def write_zone_nodes(ImageBuilder b, NativeZone z, NativeZone parent, uint16_t zone_index,
                     uint16_t other, bint minimal, bytearray nodes, uint64_t nodes_base,
                     progress=None, str label="") -> None:
    """Every node of z into nodes (at their numbers, relative to nodes_base)."""
    cdef bytes nxdomain = b.nxdomain_record(z)
    cdef uint8_t* out = <uint8_t*>nodes
    cdef uint32_t i, total = 0, c, j, chunks, step, done = 0, chunk = chunk_nodes
    cdef uint32_t* order = <uint32_t*>malloc((z.name_count if z.name_count else 1) * sizeof(uint32_t))
    cdef _Planner planner = None
    cdef bint ready
    thread = None
    if order == NULL:
        raise MemoryError()
    try:
        for i in range(z.name_count):
            if z.names[z.sorted_names[i]].node >= 0:
                order[total] = z.sorted_names[i]
                total += 1
        step = total // 10 if progress is not None and total >= 20000 else 0
        chunks = (total + chunk - 1) // chunk
        if total >= pipeline_min_nodes:
            planner = _Planner()
            planner.setup(z, parent, other, minimal, order, total)
            thread = _start_thread(planner.run)
        try:
            for c in range(chunks):
                if planner is not None:
                    with nogil:
                        ready = planner.wait_for(c)
                    if ready:
                        _replay_chunk(b, z, parent, zone_index, nxdomain, planner.plans[c % N_SLOTS].data,
                                      planner.counts[c % N_SLOTS], out, nodes_base)
                        planner.release(c, 0)
                    else:  # planning stopped: plan the rest here (and meet its error)
                        planner = None
                if planner is None:
                    b.plan.len = 0
                    for j in range(c * chunk, min(total, (c + 1) * chunk)):
                        plan_node(&b.pl, &b.plan, z, parent, order[j], other, minimal)
                    _replay_chunk(b, z, parent, zone_index, nxdomain, b.plan.data,
                                  min(total, (c + 1) * chunk) - c * chunk, out, nodes_base)
                done = min(total, (c + 1) * chunk)
                if step:  # every step nodes, as one node at a time reports
                    for j in range((c * chunk) // step + 1, done // step + 1):
                        progress(label, j * step, total)
        finally:
            if thread is not None:
                if planner is not None:
                    planner.release(chunks, 1)
                thread.join()
    finally:
        free(order)


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
