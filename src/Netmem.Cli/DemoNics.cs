using System.Buffers.Binary;
using System.IO.Hashing;
using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Drivers.VirtualNic;
using Netmem.Memory;
using Netmem.Pool;
using Netmem.Skb;

namespace Netmem.Cli;

/// <summary>
/// The demo's devices: a VirtualNic pair (vnic0 -> vnic1) with header/data split and four channels on
/// the receiver, an ntuple rule steering TCP port 5201 to queue 3, and a dma-buf of device memory bound
/// to queue 3 (bind-rx), driven with UDP and TCP flows and one 64 KB TSO send. Every received byte is
/// hashed and compared with what was sent; payload that landed in device memory is read back through the
/// dma-buf's verification hook.
/// </summary>
internal sealed class DemoNics : IDisposable, INetdevRxHandler
{
    private readonly PageArena _arena = new(new PageArenaOptions { PageCount = 8192 });
    private readonly SkbCache _tx;
    private readonly PagePool _payloadPool;
    private readonly byte[] _scratch = new byte[70_000];
    private readonly DeviceMemoryDmaBuf _hbm = new(1024L * PageArena.PageSize, "demo-hbm");

    public DemoNics()
    {
        Pair = new VirtualNicPair(new VirtualNicPairOptions
        {
            A = new VirtualNicOptions { Name = "vnic0", Queues = 2, Arena = _arena },
            B = new VirtualNicOptions { Name = "vnic1", Queues = 4, TcpDataSplit = TcpDataSplit.On, Arena = _arena },
        });
        Pair.B.RxHandler = this;
        Pair.B.AddNtupleRule(new NtupleRule { Location = 0, FlowType = NtupleFlowType.Tcp4, DstPort = 5201, Action = 3 });
        Binding = NetDevmemBinding.BindRx(Pair.B, _hbm, [3]);
        _tx = new SkbCache(new SkbCacheOptions { Arena = _arena });
        _payloadPool = PagePool.Create(new PagePoolParams { Arena = _arena });
    }

    public VirtualNicPair Pair { get; }
    /// <summary>The dma-buf binding on vnic1's queue 3.</summary>
    public NetDevmemBinding Binding { get; }
    /// <summary>Frames whose payload landed in device memory.</summary>
    public long DevmemFrames { get; private set; }
    public ulong SentHash { get; private set; }
    public ulong ReceivedHash { get; private set; }
    public long Frames { get; private set; }
    public long ReceivedFrames { get; private set; }

    /// <summary>Sends 64 UDP flows of 8 frames, 16 TCP frames to port 5201 and one 64 KB TSO skb, and polls.</summary>
    public void Run()
    {
        var a = Pair.A;
        var b = Pair.B;
        var payload = new byte[1400];
        for (int round = 0; round < 8; round++)
            for (int flow = 0; flow < 64; flow++)
            {
                Fill(payload, round * 64 + flow);
                Send(Udp(b, a, (ushort)(10000 + flow), 9000, payload.AsSpan(0, 200 + flow * 10)));
            }
        for (int i = 0; i < 16; i++)
        {
            Fill(payload, 1000 + i);
            Send(Tcp(b, a, 40000, 5201, (uint)(i * 1400), 0x18, payload));
        }
        SendTso(64_000, 1448);
        Pair.PollAll();
    }

    private void Send(byte[] frame)
    {
        var skb = _tx.Alloc(frame.Length + 64)!;
        skb.Reserve(64);
        skb.PutData(frame);
        SentHash += XxHash3.HashToUInt64(frame.AsSpan(14));
        Frames++;
        Pair.A.Transmit(skb);
    }

    /// <summary>A TCP skb with headers in the head and payload in page frags, segmented by vnic0's TSO.</summary>
    private void SendTso(int length, int mss)
    {
        var payload = new byte[length];
        Fill(payload, 77);
        var hdr = Tcp(Pair.B, Pair.A, 40001, 5201, 1_000_000, 0x18, []);
        var skb = _tx.Alloc(128)!;
        skb.Reserve(64);
        skb.PutData(hdr);
        skb.SetNetworkHeader(14);
        skb.SetTransportHeader(34);
        for (int off = 0; off < length; off += PageArena.PageSize)
        {
            int n = Math.Min(PageArena.PageSize, length - off);
            var page = _payloadPool.AllocNetmem();
            payload.AsSpan(off, n).CopyTo(page.GetSpan(0, n));
            skb.AddRxFragNetmem(page, 0, n, PageArena.PageSize);
        }
        skb.MarkForRecycle();
        skb.Shinfo.GsoSize = (ushort)mss;
        skb.Shinfo.GsoType = SkbGsoType.TcpV4;
        skb.IpSummed = SkbChecksumState.Partial;
        // What arrives: one segment per mss, each with fixed-up headers; hash each segment's payload.
        for (int off = 0; off < length; off += mss)
        {
            SentHash += XxHash3.HashToUInt64(payload.AsSpan(off, Math.Min(mss, length - off)));
            Frames++;
        }
        Pair.A.Transmit(skb);
    }

    void INetdevRxHandler.Receive(NetDevice dev, NetdevRxQueue queue, SkBuff skb)
    {
        var span = _scratch.AsSpan(0, skb.Len);
        if (skb.Unreadable)
        {
            // Headers in the head; payload only in device memory, checked through the verification hook.
            skb.Data.CopyTo(span);
            int at = skb.HeadLen;
            for (int i = 0; i < skb.NrFrags; i++)
            {
                var f = skb.Frags[i];
                _hbm.ReadForVerification((long)f.Netmem.NetIovVirtualAddr + f.Offset, span.Slice(at, f.Size));
                at += f.Size;
            }
            DevmemFrames++;
        }
        else
        {
            skb.CopyBits(0, span);
        }
        // TSO segments are hashed by payload alone (their headers differ from the template).
        bool tso = span.Length > 40 && span[9] == 6 && BinaryPrimitives.ReadUInt16BigEndian(span[20..]) == 40001;
        ReceivedHash += XxHash3.HashToUInt64(tso ? span[40..] : span);
        ReceivedFrames++;
        skb.Free();
    }

    private static void Fill(Span<byte> s, int seed)
    {
        for (int i = 0; i < s.Length; i++) s[i] = (byte)(seed * 31 + i * 7);
    }

    private static byte[] Udp(VirtualNic to, VirtualNic from, ushort sport, ushort dport, ReadOnlySpan<byte> payload)
    {
        var f = new byte[42 + payload.Length];
        Ip(f, to, from, 17, 28 + payload.Length);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(34), sport);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(36), dport);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(38), (ushort)(8 + payload.Length));
        payload.CopyTo(f.AsSpan(42));
        L4Checksum(f, 17, 40);
        return f;
    }

    private static byte[] Tcp(VirtualNic to, VirtualNic from, ushort sport, ushort dport, uint seq, byte flags, ReadOnlySpan<byte> payload)
    {
        var f = new byte[54 + payload.Length];
        Ip(f, to, from, 6, 40 + payload.Length);
        var t = f.AsSpan(34);
        BinaryPrimitives.WriteUInt16BigEndian(t, sport);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], dport);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], seq);
        t[12] = 0x50;
        t[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], 65535);
        payload.CopyTo(f.AsSpan(54));
        L4Checksum(f, 6, 50);
        return f;
    }

    private static void Ip(Span<byte> f, VirtualNic to, VirtualNic from, byte proto, int total)
    {
        to.Address.Write(f);
        from.Address.Write(f[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(f[12..], 0x0800);
        var ip = f[14..];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)total);
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = proto;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], 0x0A00_0001);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], 0x0A00_0002);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InetChecksum.Compute(ip[..20]));
    }

    private static void L4Checksum(Span<byte> f, byte proto, int field)
    {
        int l4len = f.Length - 34;
        Span<byte> pseudo = stackalloc byte[12];
        f.Slice(26, 8).CopyTo(pseudo);
        pseudo[9] = proto;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo[10..], (ushort)l4len);
        uint sum = InetChecksum.Partial(f[34..], InetChecksum.Partial(pseudo));
        BinaryPrimitives.WriteUInt16BigEndian(f[field..], InetChecksum.Fold(sum));
    }

    public void Dispose()
    {
        Binding.Dispose();
        _hbm.Dispose();
        Pair.Dispose();
        _tx.Dispose();
        _payloadPool.Dispose();
        _arena.Dispose();
    }
}
