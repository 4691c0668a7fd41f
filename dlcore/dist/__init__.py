"""dlcore.dist: communication for data-parallel training, on stdlib sockets only.

Owns: wire framing (`wire`), mutual HMAC authentication (`auth`), a TCP rendezvous
(`rendezvous`), a rank's ring connections (`communicator`), the ring collectives
(`collectives`, `compression`), the sharded optimizer step (`sharded`) and an
in-process group of thread ranks for tests (`local`). Does not own: launching
workers (Spark barrier stages live in fraud_app.spark), the training loop, or
retrying a failed group; it imports no Spark.

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
deadline of CommConfig.op_timeout; any failure breaks the communicator on every
rank, which then raises CommunicationError / PeerTimeoutError; retry the group with
a new rendezvous and a larger round_id):

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

from dlcore.dist.auth import new_job_secret
from dlcore.dist.communicator import Communicator
from dlcore.dist.compression import get_codec
from dlcore.dist.config import CommConfig, Member
from dlcore.dist.local import LocalGroup, loopback_config, start_threads
from dlcore.dist.rendezvous import RendezvousServer, rendezvous
from dlcore.dist.sharded import ShardedStep, StepTimings

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
