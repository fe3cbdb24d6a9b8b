using System.Diagnostics;
using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Memory;
using Netmem.Sockets;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Cli.Ncdevmem;

/// <summary>
/// ncdevmem's <c>do_server</c> on a <see cref="NetDevice"/> the stack drives: header split on with hds-thresh
/// 0, RSS kept off the devmem queues, an ntuple rule steering the flow to them, a dma-buf (memfd, as
/// ncdevmem's udmabuf, or device memory) bound with bind-rx, a listener. <see cref="RunAsync"/> accepts one
/// connection and loops recvmsg(MSG_SOCK_DEVMEM): every dmabuf record must carry the binding's id, its
/// frag is read where it landed (memfd: in place between begin and end CPU access; device memory: through
/// the verification hook) and validated, and the call's tokens go back with SO_DEVMEM_DONTNEED, whose
/// count is checked. Unlike ncdevmem, linear bytes are validated too, in stream order, so the whole
/// stream is checked, not only the part that landed in the dma-buf.
/// </summary>
internal sealed class NcdevmemServer : IDisposable
{
    /// <summary>ncdevmem's iobuf: the linear buffer, and so the most one call reads.</summary>
    public const int IoBufSize = 819200;
    /// <summary>ncdevmem's control buffer (sizeof(int) * 20000) holds this many CMSG_SPACE(24) records.</summary>
    public const int MaxRecords = 80000 / 40;
    private const int NtupleLocation = 0;

    private readonly NcdevmemOptions _o;
    private readonly TextWriter _log;
    private readonly NetDevice _dev;
    private readonly bool _steered;
    private readonly byte[] _linear = new byte[IoBufSize];
    private readonly DevmemCmsg[] _records = new DevmemCmsg[MaxRecords];
    private readonly DmabufToken[] _tokens = new DmabufToken[Devmem.MaxDontneedTokens];
    private readonly byte[] _scratch = new byte[64 * 1024];
    private readonly NcdevmemValidator? _validator;
    private int _pending;
    private long _total, _linearBytes, _aligned, _unaligned, _calls, _released;
    private bool _disposed;

    private NcdevmemServer(NetStack stack, NetDevice dev, Ipv4Address address, NcdevmemOptions o, TextWriter log)
    {
        _o = o;
        _log = log;
        _dev = dev;
        if (o.Modulus != 0) _validator = new NcdevmemValidator(new NcdevmemPattern(o.Modulus), log);
        int queues = dev.RealNumRxQueues;
        int start = o.StartQueue >= 0 ? o.StartQueue : queues - o.NumQueues;
        if (o.NumQueues < 1 || start < 0 || start + o.NumQueues > queues)
            throw new NetmemErrnoException(Errno.ERANGE, $"queues {start}..{start + o.NumQueues - 1} are not all on {dev.Name} ({queues} rx queues)");
        Queues = Enumerable.Range(start, o.NumQueues).ToArray();

        // configure_headersplit(1)
        dev.SetRingParam(dev.GetRingParam() with { TcpDataSplit = TcpDataSplit.On, HdsThresh = 0 });
        log.WriteLine($"{dev.Name}: TCP header split: on, hds-thresh 0");
        // configure_rss + configure_flow_steering: other traffic spread over the queues below the bound ones,
        // this flow to the first bound queue. A device without ntuple (the tap: the kernel picks its queue) is
        // fine only when every queue is bound.
        if ((dev.HwFeatures & NetdevFeatures.Ntuple) != 0)
        {
            if (start > 0)
            {
                var indir = new int[NetDevice.RssIndirSize];
                for (int i = 0; i < indir.Length; i++) indir[i] = i % start;
                dev.SetRxfh(indir);
            }
            dev.SetFeatures(dev.Features | NetdevFeatures.Ntuple);
            dev.AddNtupleRule(new NtupleRule { Location = NtupleLocation, FlowType = NtupleFlowType.Tcp4, DstIp = address.ToUInt32(), DstPort = o.Port, Action = start });
            _steered = true;
            log.WriteLine($"{dev.Name}: {(start > 0 ? $"ethtool -X equal {start}; " : "")}ethtool -N flow-type tcp4 dst-ip {address} dst-port {o.Port} queue {start}");
        }
        else if (o.NumQueues != queues)
            throw new NetmemErrnoException(Errno.EOPNOTSUPP, $"{dev.Name} has no ntuple filters: bind all {queues} rx queues (-t 0 -q {queues}) so the flow cannot miss them");
        else
            log.WriteLine($"{dev.Name}: no ntuple filters; every rx queue is bound, so no steering is needed");

        long size = (long)o.Pages * PageArena.PageSize;
        Buffer = o.DeviceMemory ? new DeviceMemoryDmaBuf(size, "ncdevmem-devmem") : new MemfdDmaBuf(size, "ncdevmem-udmabuf");
        try
        {
            Binding = NetDevmemBinding.BindRx(dev, Buffer, Queues);
            log.WriteLine($"got dmabuf id={Binding.Id} ({(o.DeviceMemory ? "device memory" : "memfd udmabuf")}, {o.Pages} pages) on {dev.Name} rx queues {string.Join(',', Queues)}");
            Listener = stack.ListenTcp(o.Port, address, backlog: 1);
            log.WriteLine($"Waiting for connection on {address}:{o.Port}");
        }
        catch
        {
            Binding?.Dispose();
            Buffer.Dispose();
            Unsteer();
            throw;
        }
    }

    public int[] Queues { get; }
    public DmaBuf Buffer { get; }
    public NetDevmemBinding Binding { get; }
    public TcpListener Listener { get; }
    /// <summary>Stream bytes received and checked so far (read from any thread while <see cref="RunAsync"/> runs).</summary>
    public long ReceivedBytes => Volatile.Read(ref _total) + Volatile.Read(ref _linearBytes);

    /// <summary>Sets the device up, binds and listens (ncdevmem -l up to accept).</summary>
    public static NcdevmemServer Start(NetStack stack, NetDevice dev, Ipv4Address address, NcdevmemOptions o, TextWriter log) =>
        new(stack, dev, address, o, log);

    /// <summary>Accepts one connection and receives until the peer closes, an error, or <paramref name="ct"/>.</summary>
    public async Task<NcdevmemResult> RunAsync(CancellationToken ct)
    {
        using var client = await Listener.AcceptAsync(ct).ConfigureAwait(false);
        _log.WriteLine($"Got connection from {client}");
        var sw = Stopwatch.StartNew();
        string? error = null;
        try
        {
            while (true)
            {
                var r = await client.ReceiveDevmemAsync(_linear, _records, IoBufSize, ct).ConfigureAwait(false);
                if (r.Bytes == 0)
                {
                    _log.WriteLine("client exited");
                    break;
                }
                _calls++;
                error = Process(client, r);
                if (error is not null) break;
            }
        }
        catch (NetmemErrnoException e)
        {
            error = $"recvmsg: {e.Message}";
        }
        double secs = sw.Elapsed.TotalSeconds;
        if (error is null && client.DevmemTokensOutstanding != 0) error = $"{client.DevmemTokensOutstanding} tokens still outstanding at the end";
        if (error is not null) _log.WriteLine($"ncdevmem: {error}");
        else _log.WriteLine("ncdevmem: ok");
        foreach (int q in Queues)
            if (_dev.GetRxQueue(q).PagePool is { } pool) _log.WriteLine($"rx queue {q} page_pool {pool.Id}: {pool.GetStats()}, binding chunks in use {Binding.Chunks.InUse} of {Binding.Chunks.Capacity}");
        _log.WriteLine($"page_aligned_frags={_aligned}, non_page_aligned_frags={_unaligned}");
        _log.WriteLine($"total_received={_total} (+{_linearBytes} linear bytes){(_validator is null ? "" : $", validated {_validator.Offset} bytes, {_validator.Errors} mismatches")}");
        return new NcdevmemResult
        {
            TotalReceived = _total, LinearBytes = _linearBytes, PageAlignedFrags = _aligned, NonPageAlignedFrags = _unaligned,
            Calls = _calls, TokensReleased = _released, Mismatches = _validator?.Errors ?? 0, Validated = _validator is not null,
            Error = error, Seconds = secs,
        };
    }

    /// <summary>One recvmsg's records, in stream order; returns the fatal error, or null.</summary>
    private string? Process(TcpSocket client, DevmemReceiveResult r)
    {
        // ncdevmem: a call with no devmem record means the flow did not land on the bound queue.
        if (r.Records == 0) return $"flow steering error: {r.Bytes} bytes arrived without devmem records";
        // One CPU access (DMA_BUF_IOCTL_SYNC start/end) for the call's frags of a memfd, not one per frag.
        bool inPlace = _validator is not null && Buffer is not DeviceMemoryDmaBuf;
        var view = inPlace ? Buffer.BeginCpuAccess(0, (int)Buffer.Size, DmaDirection.FromDevice) : default;
        try
        {
            return Records(client, r.Records, view);
        }
        finally
        {
            if (inPlace) Buffer.EndCpuAccess(DmaDirection.FromDevice);
        }
    }

    private string? Records(TcpSocket client, int count, ReadOnlySpan<byte> view)
    {
        int lin = 0, k = 0;
        uint id = Binding.Id;
        var records = _records.AsSpan(0, count);
        for (int i = 0; i < records.Length; i++)
        {
            ref readonly var rec = ref records[i];
            int size = (int)rec.Data.FragSize;
            if (rec.IsLinear)
            {
                if (_o.Verbose) _log.WriteLine($"SCM_DEVMEM_LINEAR. dmabuf_cmsg->frag_size={size}");
                if (_validator is not null && !_validator.Check(_linear.AsSpan(lin, size))) return "validation failed.";
                lin += size;
                _linearBytes += size;
                continue;
            }
            _total += size;
            if (_o.Verbose)
                _log.WriteLine($"received frag_page={rec.Data.FragOffset >> 12}, in_page_offset={rec.Data.FragOffset % PageArena.PageSize}, frag_offset={rec.Data.FragOffset}, frag_size={size}, token={rec.Data.FragToken}, total_received={_total}, dmabuf_id={rec.Data.DmabufId}");
            if (rec.Data.DmabufId != id) return "received on wrong dmabuf_id: flow steering error";
            if (size % PageArena.PageSize != 0) _unaligned++;
            else _aligned++;
            if (_validator is not null && !Validate((long)rec.Data.FragOffset, size, view)) return "validation failed.";
            // Consecutive tokens go back as one range (ncdevmem sends one token per call).
            if (k > 0 && _tokens[k - 1].TokenStart + _tokens[k - 1].TokenCount == rec.Data.FragToken && _pending < Devmem.MaxDontneedFrags)
                _tokens[k - 1].TokenCount++;
            else
            {
                if (k == _tokens.Length && !Release(client, ref k)) return "SO_DEVMEM_DONTNEED not enough tokens";
                _tokens[k++] = new DmabufToken(rec.Data.FragToken, 1);
            }
            if (++_pending == Devmem.MaxDontneedFrags && !Release(client, ref k)) return "SO_DEVMEM_DONTNEED not enough tokens";
        }
        if (k > 0 && !Release(client, ref k)) return "SO_DEVMEM_DONTNEED not enough tokens";
        return null;
    }

    /// <summary>Checks a frag where it landed: memfd in place (<paramref name="view"/>), device memory through the hook.</summary>
    private bool Validate(long offset, int size, ReadOnlySpan<byte> view)
    {
        if (Buffer is DeviceMemoryDmaBuf hbm)
        {
            var tmp = _scratch.AsSpan(0, size);
            hbm.ReadForVerification(offset, tmp);
            return _validator!.Check(tmp);
        }
        return _validator!.Check(view.Slice((int)offset, size));
    }

    private bool Release(TcpSocket client, ref int k)
    {
        // The call frees at most MaxDontneedFrags tokens; _pending keeps each call under it.
        int freed = client.DevmemDontNeed(_tokens.AsSpan(0, k));
        bool ok = freed == _pending;
        _released += freed;
        k = 0;
        _pending = 0;
        return ok;
    }

    private void Unsteer()
    {
        if (!_steered) return;
        try
        {
            _dev.DeleteNtupleRule(NtupleLocation);
            _dev.ResetRxfh();
        }
        catch (NetmemErrnoException)
        {
            // the device went first
        }
    }

    /// <summary>Stops listening and unbinds (ncdevmem closes its netlink socket); the dma-buf goes once its last net_iov is back.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Listener.Dispose();
        Binding.Dispose();
        Buffer.Dispose();
        Unsteer();
    }
}
