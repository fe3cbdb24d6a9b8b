using System.Runtime.InteropServices;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Drivers.Tap;

/// <summary>
/// One RX queue's memory (what <c>ndo_queue_mem_alloc</c> returns for a tap): the queue's page_pool and
/// the buffers posted for the next readv, which play the descriptor ring. Every buffer is one page
/// read from <see cref="BufOffset"/>: in the first, the 12-byte vnet header lands just in front of
/// NET_SKB_PAD so the frame starts where build_skb wants it; the others continue the frame and become
/// frags. A frame uses as many buffers as it needs; the rest stay posted for the next read.
/// <para>
/// With tcp-data-split on there is a second, data page_pool created with ALLOW_UNREADABLE_NETMEM for the
/// queue, so it takes the queue's memory provider (a dma-buf binding). When it did
/// (<see cref="Unreadable"/>), the posted buffers are the emulated NIC's receive FIFO: the channel splits
/// each frame's headers into the first buffer (the skb head) and writes the payload into the data pool's
/// net_iovs through the device's IOMMU.
/// </para>
/// </summary>
internal sealed unsafe class TapRxQueueMem : INetdevQueueMem
{
    /// <summary>A head buffer plus MAX_SKB_FRAGS frags.</summary>
    public const int MaxBufs = SkBuff.MaxSkbFrags + 1;
    public const int BufLen = PageArena.PageSize;
    /// <summary>Where the kernel starts writing in each buffer.</summary>
    public const int BufOffset = SkBuff.NetSkbPad - VirtioNetHdr.Size;
    /// <summary>Bytes the kernel may write into one buffer.</summary>
    public const int BufCapacity = BufLen - BufOffset;

    private readonly NetmemRef[] _bufs = new NetmemRef[MaxBufs];
    private readonly TapNative.IoVec* _iov;
    private int _posted;

    public TapRxQueueMem(TapDevice dev, NetdevRxQueue queue, Napi napi)
    {
        Queue = queue;
        if (dev.HdsConfig == TcpDataSplit.On)
        {
            DataPool = PagePool.Create(new PagePoolParams
            {
                // A provider pool: DMA_MAP | DMA_SYNC_DEV, and ALLOW_UNREADABLE_NETMEM so it takes the queue's provider.
                Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev | PagePoolFlags.AllowUnreadableNetmem,
                Device = dev.Dma,
                Napi = napi,
                PoolSize = 256,
                MaxLen = PageArena.PageSize,
                Netdev = dev,
                QueueIndex = queue.Index,
                Arena = dev.Arena,
            });
        }
        try
        {
            Pool = CreateStagingPool(dev, queue, napi);
        }
        catch
        {
            DataPool?.Dispose();
            throw;
        }
        _iov = (TapNative.IoVec*)NativeMemory.AllocZeroed((nuint)(MaxBufs * sizeof(TapNative.IoVec)));
    }

    private static PagePool CreateStagingPool(TapDevice dev, NetdevRxQueue queue, Napi napi) =>
        PagePool.Create(new PagePoolParams
        {
            // Rule 4: DMA_MAP and DMA_SYNC_DEV; never ALLOW_UNREADABLE: readv needs host memory.
            Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev,
            Device = dev.Dma,
            Napi = napi,
            PoolSize = 256,
            Offset = BufOffset,
            MaxLen = BufCapacity,
            Ifindex = dev.Ifindex,
            QueueIndex = queue.Index,
            Arena = dev.Arena,
        });

    public NetdevRxQueue Queue { get; }
    /// <summary>The buffers readv fills (host pages): whole frames, or with <see cref="Unreadable"/> the staging FIFO whose first buffer becomes the header.</summary>
    public PagePool Pool { get; }
    /// <summary>With tcp-data-split on: the data pool for split payload (it took the queue's memory provider if one is installed).</summary>
    public PagePool? DataPool { get; }
    /// <summary><c>page_pool_is_unreadable</c>: the data pool took a memory provider, so payload is split into its net_iovs.</summary>
    public bool Unreadable => DataPool?.MemoryProvider is not null;
    /// <summary>Buffers posted for the next read.</summary>
    public int Posted => _posted;
    public TapNative.IoVec* Iov => _iov;

    /// <summary>Posts buffers until <paramref name="want"/> are posted. False when the pool ran dry (counted).</summary>
    public bool Refill(int want)
    {
        while (_posted < want)
        {
            var b = Pool.AllocNetmem();
            if (b.IsNull)
            {
                Queue.Stats.AllocFail++;
                return false;
            }
            _bufs[_posted] = b;
            _iov[_posted].Base = (byte*)b.Address + BufOffset; // rule 3: the address comes from the netmem
            _iov[_posted].Len = BufCapacity;
            _posted++;
        }
        return true;
    }

    /// <summary>Posted buffer <paramref name="i"/> (0 = the one the next frame starts in).</summary>
    public NetmemRef Buf(int i) => _bufs[i];

    /// <summary>Takes the first <paramref name="n"/> buffers out of the posted set (they now belong to an skb).</summary>
    public void Take(int n)
    {
        int rest = _posted - n;
        for (int i = 0; i < rest; i++)
        {
            _bufs[i] = _bufs[i + n];
            _iov[i] = _iov[i + n];
        }
        for (int i = rest; i < _posted; i++) _bufs[i] = default;
        _posted = rest;
    }

    /// <summary><c>ndo_queue_mem_free</c>: posted buffers back to the pool, then the pool (deferred while skbs hold its pages).</summary>
    public void Free()
    {
        for (int i = 0; i < _posted; i++)
        {
            Pool.PutNetmem(_bufs[i], 0, allowDirect: false);
            _bufs[i] = default;
        }
        _posted = 0;
        Pool.Dispose();
        DataPool?.Dispose();
        NativeMemory.Free(_iov);
    }

    public override string ToString() => $"{Queue} tap buffers ({_posted} posted, page_pool {Pool.Id})";
}
