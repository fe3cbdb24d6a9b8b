using System.CommandLine;
using Netmem.Cli.Ncdevmem;
using Netmem.Memory;

namespace Netmem.Cli;

/// <summary><c>netmem demo</c>: an in-memory tour of the memory model that needs no root and no setup.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var cmd = new Command("demo", "Run the in-memory demo: host pages and device net_iovs, mapped through a software IOMMU");
        cmd.SetAction(_ => Run(Console.Out));
        return cmd;
    }

    public static int Run(TextWriter o)
    {
        o.WriteLine("== netmem demo: the memory model ==");
        using var arena = new PageArena(new PageArenaOptions { PageCount = 256 });
        using var hbm = new DeviceMemory(16 * PageArena.PageSize, "gpu0-hbm");
        using var area = NetIovArea.Create(NetIovType.Dmabuf, hbm, offset: 4 * PageArena.PageSize, count: 8);
        using var nic = new DmaDevice("vnic0");
        o.WriteLine($"host page arena {arena.Id}: {arena.TotalPages} pages of {PageArena.PageSize} B, {arena.FreePages} free");
        o.WriteLine($"device memory '{hbm.Name}': {hbm.Size} B; net_iov area {area.Id}: {area.Count} net_iovs, base_virtual 0x{area.BaseVirtual:x}");

        var page = arena.AllocPages();
        var big = arena.AllocPages(order: 2);
        var niov = area[3];
        foreach (var (label, n) in new[] { ("page", page), ("order-2 page", big), ("net_iov #3", niov) })
            o.WriteLine($"  {label,-13} {n,-28} net_iov={n.IsNetIov,-5} readable={n.IsReadable,-5} address=0x{n.Address:x} refcount={n.RefCount}");
        o.WriteLine($"  net_iov #3: index {niov.NetIovIndex}, offset in dma-buf 0x{niov.NetIovVirtualAddr:x}, type {niov.NetIovType}");

        // The CPU fills the page; the NIC reads it by DMA (TX) and writes it into device memory (RX).
        var text = "hello from a host page, by DMA into device memory"u8;
        text.CopyTo(page.GetSpan(0, text.Length));
        ulong txIova = nic.MapPage(page, 0, PageArena.PageSize, DmaDirection.ToDevice);
        ulong rxIova = nic.MapDeviceMemory(hbm, (long)niov.NetIovVirtualAddr, PageArena.PageSize, DmaDirection.FromDevice);
        o.WriteLine($"  mapped page for TX at IOVA 0x{txIova:x}, net_iov #3 for RX at IOVA 0x{rxIova:x}");
        nic.DeviceCopy(rxIova, nic, txIova, text.Length);
        nic.SyncSingleForCpu(rxIova, text.Length, DmaDirection.FromDevice);
        var back = new byte[text.Length];
        hbm.CopyToHost((long)niov.NetIovVirtualAddr, back);
        o.WriteLine($"  device memory now holds: \"{System.Text.Encoding.ASCII.GetString(back)}\"");
        try
        {
            _ = niov.GetSpan(0, 16);
        }
        catch (NetmemException e)
        {
            o.WriteLine($"  CPU read of the net_iov refused: {e.Message}");
        }
        try
        {
            nic.DeviceWrite(txIova, text); // TX mapping is device-read-only
        }
        catch (IommuFaultException e)
        {
            o.WriteLine($"  {e.Message}");
        }
        try
        {
            nic.DeviceWrite(rxIova + PageArena.PageSize, text); // one past the mapping
        }
        catch (IommuFaultException e)
        {
            o.WriteLine($"  {e.Message}");
        }
        nic.UnmapPage(txIova, PageArena.PageSize, DmaDirection.ToDevice);
        nic.Unmap(rxIova, PageArena.PageSize, DmaDirection.FromDevice);
        var s = nic.Stats;
        o.WriteLine($"  IOMMU {nic.Name}: maps={s.Maps} unmaps={s.Unmaps} faults={s.Faults} syncs(cpu)={s.SyncForCpu} dev-read={s.DeviceBytesRead} B dev-write={s.DeviceBytesWritten} B");
        page.Put();
        big.Put();
        o.WriteLine($"host page arena {arena.Id}: {arena.FreePages} of {arena.TotalPages} pages free after put_netmem");

        o.WriteLine();
        o.WriteLine("== page_pool: three RX-queue pools on vnic0 ==");
        using (var demo = new DemoPools())
        {
            demo.Run();
            foreach (var pool in demo.Pools)
            {
                var s2 = pool.GetStats();
                var info = pool.GetInfo();
                o.WriteLine($"  pool {pool.Id} (queue {pool.Params.QueueIndex}{(info.NapiId is uint napi ? $", napi {napi}" : "")}): " +
                            $"inflight {info.Inflight} ({info.InflightMem} B){(info.DetachTime is not null ? ", destroyed, waiting for held netmem" : "")}");
                o.WriteLine($"    alloc  fast={s2.AllocFast} slow={s2.AllocSlow} empty={s2.AllocEmpty} refill={s2.AllocRefill} waive={s2.AllocWaive}");
                o.WriteLine($"    recycle cached={s2.RecycleCached} cache_full={s2.RecycleCacheFull} ring={s2.RecycleRing} ring_full={s2.RecycleRingFull} released_refcnt={s2.RecycleReleasedRefcnt}");
            }
            var ds = demo.Device.Stats;
            o.WriteLine($"  IOMMU {demo.Device.Name}: {demo.Device.LiveMappings} live mappings, {ds.SyncForDevice} syncs for device, {ds.SyncForCpu} for cpu, {ds.Faults} faults");
            o.WriteLine("  (netmem page-pool-get --json / page-pool-stats-get --json print these as the netdev netlink family does)");
        }

        o.WriteLine();
        o.WriteLine("== two VirtualNics on an in-memory wire: vnic0 -> vnic1 ==");
        using (var nics = new DemoNics())
        {
            nics.Run();
            var a = nics.Pair.A;
            var b = nics.Pair.B;
            var rp = b.GetRingParam();
            o.WriteLine($"  {b.Name}: {b.RealNumRxQueues} channels, rx ring {rp.RxPending}, tcp-data-split {(rp.TcpDataSplitActive ? "on" : "off")} (hds-thresh {rp.HdsThresh}), ntuple tcp dst-port 5201 -> queue 3");
            o.WriteLine($"  sent {nics.Frames} frames (64 UDP flows x 8, 16 TCP frames, one 64000-byte TSO skb); {b.Name} received {nics.ReceivedFrames}; " +
                        $"content {(nics.SentHash == nics.ReceivedHash && nics.Frames == nics.ReceivedFrames ? "verified (XxHash3 of every frame)" : "MISMATCH")}");
            foreach (var q in a.TxQueues)
            {
                var ts = q.Stats;
                o.WriteLine($"  {a.Name} tx-{q.Index}: packets={ts.Packets} bytes={ts.Bytes} hw-gso={ts.HwGsoPackets} (-> {ts.HwGsoWirePackets} frames) needs-csum={ts.NeedsCsum}");
            }
            foreach (var q in b.RxQueues)
            {
                var rs = q.Stats;
                var pool = q.PagePool!;
                var ps = pool.GetStats();
                o.WriteLine($"  {b.Name} rx-{q.Index} (napi {q.Napi!.NapiId}): packets={rs.Packets} bytes={rs.Bytes} hds-split={rs.HdsSplit} csum-ok={rs.CsumUnnecessary} ntuple={rs.NtupleHits} hw-drops={rs.HwDrops}");
                o.WriteLine($"    data pool {pool.Id}: alloc fast={ps.AllocFast} slow={ps.AllocSlow}, recycle cached={ps.RecycleCached} ring={ps.RecycleRing}, inflight {pool.Inflight} (the ring's posted buffers)");
                var hs = q.HeaderPagePool!.GetStats();
                o.WriteLine($"    header pool {q.HeaderPagePool.Id}: alloc fast={hs.AllocFast} slow={hs.AllocSlow}, recycle cached={hs.RecycleCached} ring={hs.RecycleRing}");
            }
            var drops = b.GetDrops();
            o.WriteLine($"  drops on {b.Name}: {(drops.Count == 0 ? "none" : string.Join(", ", drops.Select(kv => $"{kv.Key}={kv.Value}")))}");
            o.WriteLine("  (netmem dev show|queue-get|napi-get --json print these as the netdev netlink family does)");
        }

        o.WriteLine();
        o.WriteLine("== TCP between two stacks over the pair: 10.77.0.1 -> 10.77.0.2:5201, a NAPI poll thread per side ==");
        var t = PerfTcp.Run(new PerfTcpOptions { Seconds = 0.5, WarmupSeconds = 0.2 });
        o.WriteLine($"  handshake, then {t.Bytes} bytes in {t.Seconds:0.00} s measured ({t.GoodputGbps:0.00} Gbit/s, MTU {t.Mtu}, TSO {(t.Tso ? "on" : "off")}), " +
                    $"content {(t.Verified ? "verified (every byte against its pattern, zero-copy receive leases)" : "MISMATCH: " + t.VerifyError)}");
        o.WriteLine($"  {t.Packets} frames, {t.Retransmits} retransmits, {t.NapiAllocatedBytes} bytes allocated on the poll threads while measuring; " +
                    $"after close: pool inflight {t.PoolInflight}, arena pages not returned {t.ArenaPagesLeft}");
        o.WriteLine("  (netmem perf tcp --seconds N --json measures this beside the kernel's loopback TCP)");

        o.WriteLine();
        o.WriteLine("== devmem TCP: payload into device memory, received as tokens (ncdevmem over the pair) ==");
        var log = new StringWriter();
        var d = NcdevmemLocal.Run(new NcdevmemOptions { Bytes = 64L << 20, DeviceMemory = true, Pages = 4096 }, mtu: 9000, ifname: null, TimeSpan.FromSeconds(60), log);
        foreach (var line in log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) o.WriteLine($"  {line}");
        var dr = d.Server;
        o.WriteLine($"  devmem receive: {dr.StreamBytes} bytes in {dr.Calls} recvmsg(MSG_SOCK_DEVMEM) calls: {dr.TotalReceived} in dma-buf frags ({dr.PageAlignedFrags + dr.NonPageAlignedFrags} tokens), " +
                    $"{dr.LinearBytes} linear; {(dr.Mismatches == 0 && dr.Error is null ? "every byte validated in device memory (ncdevmem's -v 7 pattern)" : $"FAILED: {dr.Error ?? $"{dr.Mismatches} mismatches"}")}");
        o.WriteLine($"  tokens: {dr.PageAlignedFrags + dr.NonPageAlignedFrags} handed out, {dr.TokensReleased} released by SO_DEVMEM_DONTNEED, 0 outstanding at close; " +
                    $"after unbind: binding freed {d.BindingFreed}, dma-buf released {d.DmaBufReleased}, pool inflight {d.PoolInflight}");
        o.WriteLine("  (netmem ncdevmem runs 1 GiB of this; netmem perf devmem --json sets it beside a receive into host memory)");
        return t.Verified && t.PoolInflight == 0 && t.ArenaPagesLeft == 0 && d.Ok ? 0 : 1;
    }
}
