"""dlcore.collective: communication for data-parallel training, on the stdlib and NumPy
(and the `zlib-ng` wheel's CRC-32 when installed, a dependency; zlib's without it).

Owns: wire framing (`wire`) and its CRC-32 (`checksum`), listening and connecting
(`sockets`), mutual HMAC authentication (`auth`), a TCP rendezvous (`rendezvous`), a
rank's ring connections (formed: `ring_connect`; its send thread: `sender`) and the
choice of transport (`communicator`), the two transports (the TCP ring: `collectives`,
`compression`; shared memory for ranks on one host: `shm`, `shm_offer`, `shm_control`,
`segment`), the sharded optimizer step (`sharded`) and an in-process group of thread
ranks for tests (`local`). Does not own: launching workers (Spark barrier stages live in
fraud_app.spark), the training loop, or retrying a failed group; it imports no Spark.

Transports (CommConfig.transport; `comm.transport` says which one is in use):

    "auto"    (default) the DLCORE_TRANSPORT environment variable if set, else shared
              memory when every rank is on this host (same boot id, hostname and uid)
              AND every rank can map every other rank's segment (checked with a random
              token: two containers on one host share a boot id but not /dev/shm),
              else the TCP ring. Spark local[N] and co-located barrier tasks get shm.
    "shm"     shared memory or a CommunicationError that says why it is impossible.
    "socket"  the TCP ring only (the behaviour before shm existed).

Topologies (CommConfig.topology; DLCORE_TOPOLOGY fills in "auto"; `hierarchical`,
`shm_regions`): "auto"/"hierarchical" group the ranks by host key (exchanged once at
join); with several hosts holding several ranks each, collectives reduce through
shared memory within a host and over one TCP ring per local rank ("lane") between
hosts, keeping owner-computes and identical bits (`comm.transport` == "hierarchical").
One host -> the transports below; one rank per host -> the flat TCP ring. "flat"
never groups. CommConfig.host_key fakes a rank's host (tests).

Both transports have the same API and semantics; both signal over the same
authenticated ring sockets, so every wait has the op_timeout deadline (time without progress) and a failure
breaks the group the same way. On shm the data never crosses a wire: `compression`
is validated and ignored (exact float32). Segment files are 0600 and randomly named,
unlinked as soon as every rank has mapped them (milliseconds after creation; a rank
killed later leaks nothing) and unmapped by close(). Only a process of the same uid
could open one before the unlink, and it could read the workers' memory anyway.

Driver (e.g. the Spark driver, in a background thread it starts itself):

    secret = new_job_secret()                       # ship to tasks in the closure
    server = RendezvousServer(secret, world_size=n, advertise_host=driver_host)
    ... launch n tasks with (server.address, secret, round_id) ...
    server.close()

Each worker (rank r of n):

    member = Member(rank=r, world_size=n, round_id=attempt)
    with Communicator.join(server_address, secret, member, CommConfig()) as comm:
        comm.broadcast(model.params.data, root=0)   # same initial weights everywhere
        step = ShardedStep(comm, optimizer, model.params)
        for batch in batches:
            model.params.zero_grad()
            loss_sum = forward_backward(model, batch)          # grads summed into params.grad
            n_global = comm.all_reduce_small(np.array([len(batch)]))[0]
            step.step(model.params, grad_scale=1.0 / n_global) # reduce-scatter, update, all-gather
            timings = step.last_timings                         # .sync_s for metrics
        save(rank=r, bounds=step.bounds, optimizer_state=step.state)

Collectives (all ranks must make the same calls in the same order; each has a
deadline of CommConfig.op_timeout without progress; any failure breaks the communicator on every
rank, which then raises CommunicationError / PeerTimeoutError; retry the group with
a new rendezvous and a larger round_id). Every shard of a sum is computed once, by
the rank that owns it, so all ranks end with identical bits:

    comm.all_reduce(buf, compression=None|'bf16'|'fp16') -> buf   (flat float32, in place)
    comm.reduce_scatter(buf, compression=...) -> view of buf[shard_bounds(len, n, r)]
    comm.all_gather(buf, compression=...) -> buf
    comm.broadcast(buf, root=0) -> buf
    comm.all_reduce_small(float64 array) -> summed copy (bit-identical on all ranks)
    comm.barrier()

Tests and local experiments: `start_threads(n, fn)` or `with LocalGroup(n) as g:
g.run(fn)` run fn(comm) on n loopback ranks and return the results by rank.
Security: connections are authenticated, not encrypted; keep jobs on a trusted network.
"""

from dlcore.collective.auth import new_job_secret
from dlcore.collective.communicator import Communicator
from dlcore.collective.compression import get_codec
from dlcore.collective.config import CommConfig, Member
from dlcore.collective.local import LocalGroup, loopback_config, start_threads
from dlcore.collective.rendezvous import RendezvousServer, rendezvous
from dlcore.collective.sharded import ShardedStep, StepTimings

__all__ = [
    "CommConfig",
    "Communicator",
    "LocalGroup",
    "Member",
    "RendezvousServer",
    "ShardedStep",
    "StepTimings",
    "get_codec",
    "loopback_config",
    "new_job_secret",
    "rendezvous",
    "start_threads",
]
