using System.Buffers;
using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Netmem.Devices;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Bench;

/// <summary>
/// Frames across a VirtualNic pair in deterministic mode, per frame: skb alloc and fill on the sender,
/// TX DMA mapping, the device's checksum check and DMA into the receiver's posted page_pool buffer,
/// NAPI poll building the skb, delivery and free. Baseline in the same run: an ArrayPool buffer rented,
/// filled with the frame and returned (what a naive in-memory channel costs at least).
/// </summary>
[MemoryDiagnoser]
public class VirtualNicBench
{
    private const int Batch = 32;
    private PageArena _arena = null!;
    private VirtualNicPair _plain = null!, _split = null!;
    private SkbCache _tx = null!;
    private PagePool _payloadPool = null!;
    private byte[] _frame = null!, _splitFrame = null!, _tsoHeader = null!;

    private sealed class Sink : INetdevRxHandler
    {
        public long Bytes;
        public void Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
        {
            Bytes += skb.Len;
            skb.Free();
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        _arena = new PageArena(new PageArenaOptions { PageCount = 16384 });
        _plain = Pair(TcpDataSplit.Off);
        _split = Pair(TcpDataSplit.On);
        _tx = new SkbCache(new SkbCacheOptions { Arena = _arena });
        _payloadPool = PagePool.Create(new PagePoolParams { Arena = _arena });
        _frame = Frame(_plain.B, _plain.A, 1460);
        _splitFrame = Frame(_split.B, _split.A, 1460); // each pair's own MACs, or the MAC filter drops everything
        _tsoHeader = Frame(_plain.B, _plain.A, 0);
        for (int i = 0; i < 500; i++)
        {
            Plain1500();
            Split1500();
            Tso64K();
            ArrayPoolBaseline();
        }
    }

    private VirtualNicPair Pair(TcpDataSplit split)
    {
        var o = new VirtualNicOptions { Queues = 1, Arena = _arena, TcpDataSplit = split, Mtu = 1500 };
        var p = new VirtualNicPair(new VirtualNicPairOptions { A = o with { Name = "bench0" }, B = o with { Name = "bench1" } });
        p.B.RxHandler = new Sink();
        return p;
    }

    private void SendBatch(VirtualNicPair p, byte[] frame)
    {
        for (int i = 0; i < Batch; i++)
        {
            var skb = _tx.Alloc(frame.Length + 64)!;
            skb.Reserve(64);
            skb.PutData(frame);
            p.A.Transmit(skb);
        }
        p.B.GetNapi(0).RunUntilIdle();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch, Description = "ArrayPool rent+copy+return, 1514 B")]
    public void ArrayPoolBaseline()
    {
        for (int i = 0; i < Batch; i++)
        {
            var b = ArrayPool<byte>.Shared.Rent(2048);
            _frame.CopyTo(b, 0);
            ArrayPool<byte>.Shared.Return(b);
        }
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "1514 B frame A->B, no split")]
    public void Plain1500() => SendBatch(_plain, _frame);

    [Benchmark(OperationsPerInvoke = Batch, Description = "1514 B frame A->B, header split")]
    public void Split1500() => SendBatch(_split, _splitFrame);

    /// <summary>One 64000-byte TSO skb: 45 wire frames of 1448 bytes; reported per wire frame.</summary>
    [Benchmark(OperationsPerInvoke = 45, Description = "64 KB TSO skb, per wire frame")]
    public void Tso64K()
    {
        var skb = _tx.Alloc(128)!;
        skb.Reserve(64);
        skb.PutData(_tsoHeader);
        skb.SetNetworkHeader(14);
        skb.SetTransportHeader(34);
        for (int off = 0; off < 64000; off += PageArena.PageSize)
        {
            int n = Math.Min(PageArena.PageSize, 64000 - off);
            skb.AddRxFragNetmem(_payloadPool.AllocNetmem(), 0, n, PageArena.PageSize);
        }
        skb.MarkForRecycle();
        skb.Shinfo.GsoSize = 1448;
        skb.Shinfo.GsoType = SkbGsoType.TcpV4;
        skb.IpSummed = SkbChecksumState.Partial;
        _plain.A.Transmit(skb);
        _plain.B.GetNapi(0).RunUntilIdle();
    }

    private static byte[] Frame(VirtualNic to, VirtualNic from, int payload)
    {
        var f = new byte[54 + payload];
        to.Address.Write(f);
        from.Address.Write(f.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0800);
        var ip = f.AsSpan(14);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(40 + payload));
        ip[8] = 64;
        ip[9] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], 0x0A000001);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], 0x0A000002);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InetChecksum.Compute(ip[..20]));
        f[34 + 12] = 0x50;
        f[34 + 13] = 0x10;
        for (int i = 54; i < f.Length; i++) f[i] = (byte)i;
        return f;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // A benchmark that silently dropped its frames would measure nothing: fail loudly instead.
        foreach (var p in new[] { _plain, _split })
            if (p.B.GetDrops().Count != 0 || p.B.RxQueues[0].Stats.Packets == 0)
                throw new InvalidOperationException($"{p.B.Name}: frames were dropped ({string.Join(", ", p.B.GetDrops())}) or none arrived");
        _plain.Dispose();
        _split.Dispose();
        _tx.Dispose();
        _payloadPool.Dispose();
    }
}
