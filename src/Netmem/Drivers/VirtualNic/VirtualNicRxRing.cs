using System.Buffers.Binary;
using Netmem.Devices;
using Netmem.Memory;
using Netmem.Phy;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Drivers.VirtualNic;

/// <summary>
/// One RX queue's memory (what <c>ndo_queue_mem_alloc</c> returns): the descriptor ring, the data
/// page_pool (which may draw unreadable net_iovs from a memory provider), and with header/data split a
/// second, always readable page_pool for header buffers. The device half (<see cref="HwReceive"/>)
/// writes frames through the IOMMU into posted buffers; the driver half (<see cref="Clean"/>) runs in
/// the queue's NAPI poll, turns completed descriptors into skbs and posts fresh buffers.
/// </summary>
internal sealed class VirtualNicRxRing : INetdevQueueMem
{
    /// <summary>Each header buffer (a page_pool fragment); NET_SKB_PAD of it is headroom.</summary>
    public const int HeaderBufSize = 1024;
    public const int HdsThreshMax = HeaderBufSize - SkBuff.NetSkbPad;
    /// <summary>Bytes the device parser looks at to find the headers.</summary>
    private const int ParseWindow = 256;

    private readonly VirtualNic _nic;
    private readonly RxDescriptor[] _desc;
    private readonly NetmemRef[] _data;
    private readonly NetmemRef[] _hdr;
    private readonly int[] _hdrOff;
    private readonly int _mask;
    private uint _tail;   // next slot the driver posts (the device may use slots before it)
    private uint _hwHead; // next slot the device fills (device side, under HwLock)
    private uint _clean;  // next slot the driver cleans (NAPI side)
    private bool _running;

    public VirtualNicRxRing(VirtualNic nic, NetdevRxQueue queue, int size, bool split, int hdsThresh, Napi napi, bool allowUnreadable)
    {
        _nic = nic;
        Queue = queue;
        Split = split;
        HdsThresh = hdsThresh;
        _desc = new RxDescriptor[size];
        _data = new NetmemRef[size];
        _hdr = new NetmemRef[size];
        _hdrOff = new int[size];
        _mask = size - 1;
        BufLen = PageArena.PageSize;
        // Without split the frame starts after NET_SKB_PAD of headroom, for build_skb.
        Headroom = split ? 0 : SkBuff.NetSkbPad;
        DataPool = PagePool.Create(new PagePoolParams
        {
            // Rule 4: DMA_MAP and DMA_SYNC_DEV always; ALLOW_UNREADABLE_NETMEM exactly when split is on, so
            // the pool takes the queue's memory provider (from Netdev + QueueIndex), if one is installed.
            Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev | (allowUnreadable ? PagePoolFlags.AllowUnreadableNetmem : 0),
            Device = nic.Dma,
            Napi = napi,
            PoolSize = Math.Max(size * 2, 64),
            Offset = Headroom,
            MaxLen = BufLen - Headroom,
            Netdev = nic,
            QueueIndex = queue.Index,
            Arena = nic.Arena,
        });
        if (split)
        {
            try
            {
                HeaderPool = PagePool.Create(new PagePoolParams
                {
                    Flags = PagePoolFlags.DmaMap | PagePoolFlags.DmaSyncDev,
                    Device = nic.Dma,
                    Napi = napi,
                    PoolSize = Math.Max(size / 2, 64),
                    MaxLen = PageArena.PageSize,
                    Ifindex = nic.Ifindex,
                    QueueIndex = queue.Index,
                    Arena = nic.Arena,
                });
            }
            catch
            {
                DataPool.Dispose();
                throw;
            }
        }
    }

    public NetdevRxQueue Queue { get; }
    public PagePool DataPool { get; }
    public PagePool? HeaderPool { get; }
    public bool Split { get; }
    public int HdsThresh { get; }
    public int BufLen { get; }
    public int Headroom { get; }
    public int Size => _desc.Length;
    /// <summary>Serialises the device side (frames can arrive from several senders).</summary>
    public readonly Lock HwLock = new();
    /// <summary>Descriptors posted and not yet used by the device.</summary>
    public int Posted => (int)(Volatile.Read(ref _tail) - Volatile.Read(ref _hwHead));

    // ------------------------------------------------------------------ driver side

    /// <summary>Posts buffers into every free slot. Returns false when a buffer could not be had (counted).</summary>
    public bool Refill()
    {
        uint tail = _tail;
        uint limit = _clean + (uint)_desc.Length;
        bool ok = true;
        while (tail != limit)
        {
            int i = (int)(tail & (uint)_mask);
            var data = DataPool.AllocNetmem();
            if (data.IsNull)
            {
                Queue.Stats.AllocFail++;
                ok = false;
                break;
            }
            ref var d = ref _desc[i];
            if (HeaderPool is not null)
            {
                var h = HeaderPool.AllocFragNetmem(HeaderBufSize, out int off);
                if (h.IsNull)
                {
                    DataPool.PutNetmem(data, 0, allowDirect: true);
                    Queue.Stats.AllocFail++;
                    ok = false;
                    break;
                }
                _hdr[i] = h;
                _hdrOff[i] = off;
                d.HdrAddr = PagePool.GetDmaAddr(h) + (ulong)(off + SkBuff.NetSkbPad);
                d.HdrLen = HeaderBufSize - SkBuff.NetSkbPad;
            }
            _data[i] = data;
            // Rule 3: only the netmem API: the DMA address comes from the pool (page or net_iov alike).
            d.BufAddr = PagePool.GetDmaAddr(data) + (ulong)Headroom;
            d.BufLen = BufLen - Headroom;
            d.Status = 0;
            tail++;
            Volatile.Write(ref _tail, tail); // publish the slot to the device
        }
        return ok;
    }

    /// <summary>
    /// The NAPI half: turns up to <paramref name="budget"/> completed frames into skbs and hands them to
    /// the stack, then posts fresh buffers. Runs only on the queue's NAPI context.
    /// </summary>
    public int Clean(int budget, SkbCache cache)
    {
        int work = 0;
        while (work < budget)
        {
            int i = (int)(_clean & (uint)_mask);
            ref var d = ref _desc[i];
            int status = Volatile.Read(ref d.Status);
            if ((status & (int)RxStatus.Done) == 0) break;
            int n = d.NumDescs;
            // Consume the descriptors: a stale Done bit would make a later pass see a phantom frame.
            for (int k = 0; k < n; k++) _desc[(i + k) & _mask].Status = 0;
            var skb = BuildSkb(cache, i, n, status);
            _clean += (uint)n;
            work++;
            if (skb is not null) _nic.ReceiveSkb(Queue, skb);
        }
        if (work > 0 || Posted == 0) Refill();
        return work;
    }

    private SkBuff? BuildSkb(SkbCache cache, int first, int n, int status)
    {
        ref var d0 = ref _desc[first];
        var stats = Queue.Stats;
        SkBuff skb;
        int fragStart;
        if ((status & (int)RxStatus.Sph) != 0)
        {
            // Header buffer -> skb head (build_skb on the page_pool fragment); payload buffers -> frags.
            var h = _hdr[first];
            int hoff = _hdrOff[first];
            HeaderPool!.DmaSyncNetmemForCpu(h, hoff + SkBuff.NetSkbPad, d0.HdrWritten); // rule 6
            skb = cache.Build(h, hoff, HeaderBufSize);
            skb.MarkForRecycle();
            skb.Reserve(SkBuff.NetSkbPad);
            skb.Put(d0.HdrWritten);
            _hdr[first] = default;
            fragStart = 0;
            if (d0.Len == 0)
            {
                // The whole frame fit in the header buffer (hds-thresh or no payload): the data buffer goes back unused.
                DataPool.RecycleDirect(_data[first]);
                _data[first] = default;
                fragStart = 1;
                stats.HdsWhole++;
            }
            else
            {
                stats.HdsSplit++;
            }
        }
        else
        {
            if (HeaderPool is not null && !_hdr[first].IsNull)
            {
                HeaderPool.RecycleDirect(_hdr[first]); // split is on but the device put everything in the data buffer
                _hdr[first] = default;
            }
            var data = _data[first];
            if (!data.IsReadable)
            {
                // Unsplittable frame in unreadable memory: the CPU cannot even read its headers (rule 5).
                DropFrame(first, n, SkbDropReason.UnhandledProto);
                return null;
            }
            DataPool.DmaSyncNetmemForCpu(data, 0, d0.Len);
            skb = cache.Build(data, 0, BufLen);
            skb.MarkForRecycle();
            skb.Reserve(Headroom);
            skb.Put(d0.Len);
            _data[first] = default;
            fragStart = 1;
        }
        for (int k = fragStart; k < n; k++)
        {
            int i = (first + k) & _mask;
            ref var d = ref _desc[i];
            var data = _data[i];
            DataPool.DmaSyncNetmemForCpu(data, 0, d.Len); // a no-op for provider memory (the user syncs dma-bufs)
            skb.AddRxFragNetmem(data, Headroom, d.Len, BufLen);
            _data[i] = default;
            if (k > 0 && HeaderPool is not null && !_hdr[i].IsNull)
            {
                HeaderPool.RecycleDirect(_hdr[i]);
                _hdr[i] = default;
            }
        }
        if (skb.Unreadable) stats.Unreadable++;

        // Checksum and hash as the device reported them.
        if ((status & (int)RxStatus.L4CsumOk) != 0)
        {
            skb.IpSummed = SkbChecksumState.Unnecessary;
            stats.CsumUnnecessary++;
        }
        else
        {
            skb.IpSummed = SkbChecksumState.None;
            if ((status & (int)(RxStatus.L4CsumBad | RxStatus.IpCsumBad)) != 0) stats.CsumBad++;
            else stats.CsumNone++;
        }
        if ((status & (int)RxStatus.Hash) != 0)
        {
            skb.Hash = d0.Hash;
            skb.L4Hash = (status & (int)RxStatus.HashL4) != 0;
        }
        if ((status & (int)RxStatus.Steered) != 0) stats.NtupleHits++;
        skb.QueueMapping = (ushort)Queue.Index;
        EthTypeTrans(skb);
        return skb;
    }

    /// <summary><c>eth_type_trans</c>: records the MAC header, sets the protocol and pulls the Ethernet header.</summary>
    private static void EthTypeTrans(SkBuff skb)
    {
        skb.ResetMacHeader();
        skb.Protocol = BinaryPrimitives.ReadUInt16BigEndian(skb.Data.Slice(12, 2));
        skb.Pull(14);
        skb.ResetNetworkHeader();
    }

    private void DropFrame(int first, int n, SkbDropReason reason)
    {
        for (int k = 0; k < n; k++)
        {
            int i = (first + k) & _mask;
            if (!_data[i].IsNull) DataPool.RecycleDirect(_data[i]);
            if (!_hdr[i].IsNull) HeaderPool!.RecycleDirect(_hdr[i]);
            _data[i] = default;
            _hdr[i] = default;
        }
        _nic.CountDrop(reason);
    }

    /// <summary>Whether the device has completed a frame the driver has not cleaned.</summary>
    public bool HasCompleted => (Volatile.Read(ref _desc[(int)(_clean & (uint)_mask)].Status) & (int)RxStatus.Done) != 0;

    // ------------------------------------------------------------------ device side

    public bool Running
    {
        get => Volatile.Read(ref _running);
        set => Volatile.Write(ref _running, value);
    }

    /// <summary>
    /// The device writes one frame into posted buffers (caller holds <see cref="HwLock"/>). With split on,
    /// headers go to the header buffer and payload to data buffers; frames up to hds-thresh, and frames it
    /// cannot split that fit, stay whole in the header buffer. Returns false when the frame was dropped
    /// (no buffers, too many buffers needed, or the queue is stopped), with the reason counted.
    /// </summary>
    public bool HwReceive(WireFrame f, in FlowKeys keys, uint hash, RxStatus flags)
    {
        if (!_running)
        {
            _nic.CountDrop(SkbDropReason.QueueStopped);
            return false;
        }
        int len = f.Length;
        int hdrLen = 0;
        if (Split)
        {
            if (HdsThresh > 0 && len <= HdsThresh) hdrLen = len;
            else if (keys.HeaderLength > 0 && keys.HeaderLength <= HdsThreshMax) hdrLen = keys.HeaderLength;
            else if (len <= HdsThreshMax) hdrLen = len;
        }
        int payload = len - hdrLen;
        int perBuf = BufLen - Headroom;
        int need = payload == 0 ? 1 : (payload + perBuf - 1) / perBuf;
        int maxDescs = Split ? SkBuff.MaxSkbFrags : SkBuff.MaxSkbFrags + 1;
        if (need > maxDescs)
        {
            Queue.Stats.HwDropOverruns++;
            _nic.CountDrop(SkbDropReason.PktTooBig);
            return false;
        }
        uint head = _hwHead;
        if (Volatile.Read(ref _tail) - head < (uint)need)
        {
            Queue.Stats.HwDrops++;
            _nic.CountDrop(SkbDropReason.RxNoBuffer);
            return false;
        }
        int first = (int)(head & (uint)_mask);
        ref var d0 = ref _desc[first];
        if (hdrLen > 0)
        {
            f.WriteTo(_nic.Dma, d0.HdrAddr, 0, hdrLen);
            flags |= RxStatus.Sph;
        }
        int off = hdrLen;
        for (int k = 0; k < need; k++)
        {
            ref var d = ref _desc[(first + k) & _mask];
            int n = Math.Min(perBuf, len - off);
            if (n > 0) f.WriteTo(_nic.Dma, d.BufAddr, off, n);
            d.Len = n;
            off += n;
            if (k > 0) Volatile.Write(ref d.Status, (int)RxStatus.Done | (k == need - 1 ? (int)RxStatus.Eop : 0));
        }
        d0.HdrWritten = hdrLen;
        d0.NumDescs = need;
        d0.Hash = hash;
        _hwHead = head + (uint)need;
        // Publishing the first descriptor last hands the whole frame to the driver at once.
        Volatile.Write(ref d0.Status, (int)(flags | RxStatus.Done | (need == 1 ? RxStatus.Eop : 0)));
        return true;
    }

    // ------------------------------------------------------------------ teardown

    /// <summary>
    /// Returns every buffer still in the ring to its pool (posted ones and completed ones nobody
    /// cleaned, which are counted as drops) and destroys the pools. Buffers held by skbs keep the pools
    /// alive until they come back (deferred destroy).
    /// </summary>
    public void Free()
    {
        for (int i = 0; i < _desc.Length; i++)
        {
            if (!_data[i].IsNull) DataPool.PutNetmem(_data[i], 0, allowDirect: false);
            if (!_hdr[i].IsNull) HeaderPool!.PutNetmem(_hdr[i], 0, allowDirect: false);
            _data[i] = default;
            _hdr[i] = default;
        }
        int pending = 0;
        while (HasCompleted)
        {
            ref var d = ref _desc[(int)(_clean & (uint)_mask)];
            _clean += (uint)Math.Max(1, d.NumDescs);
            d.Status = 0;
            pending++;
        }
        for (int k = 0; k < pending; k++) _nic.CountDrop(SkbDropReason.QueueStopped);
        _tail = _hwHead = _clean;
        DataPool.Dispose();
        HeaderPool?.Dispose();
    }

    public override string ToString() => $"{Queue} ring ({Size} descriptors, {Posted} posted, split {(Split ? "on" : "off")}, data pool {DataPool.Id})";
}
