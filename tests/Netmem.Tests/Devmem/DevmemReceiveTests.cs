using Netmem.Sockets;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.DevmemRx;

/// <summary>Devmem receive over a provider-bound RX queue: records, tokens, DONTNEED, EFAULT, close.</summary>
public class DevmemReceiveTests(ITestOutputHelper output)
{
    internal static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>
    /// Receives <paramref name="expected"/>.Length bytes with devmem receive, checking every record against
    /// the expected stream (dmabuf records through device memory, linear ones in the linear buffer).
    /// Returns the dmabuf records' tokens, not released.
    /// </summary>
    internal static List<uint> ReceiveAll(DevmemTestEnv env, TcpSocket s, byte[] expected, int start = 0, int recordCap = 64)
    {
        var linear = new byte[64 * 1024];
        var records = new DevmemCmsg[recordCap];
        var tokens = new List<uint>();
        int pos = start;
        while (pos < expected.Length)
        {
            var r = env.Run(s.ReceiveDevmemAsync(linear, records, maxBytes: 1 << 20));
            Assert.True(r.Bytes > 0, $"end of stream at {pos}");
            int lin = 0, sum = 0;
            if (r.Records == 0)
            {
                Assert.Equal(r.Bytes, r.LinearBytes); // readable data: copied, no record
                Assert.Equal(expected.AsSpan(pos, r.Bytes).ToArray(), linear.AsSpan(0, r.Bytes).ToArray());
                pos += r.Bytes;
                continue;
            }
            for (int i = 0; i < r.Records; i++)
            {
                var rec = records[i];
                int n = (int)rec.Data.FragSize;
                if (rec.IsLinear)
                {
                    Assert.Equal(expected.AsSpan(pos + sum, n).ToArray(), linear.AsSpan(lin, n).ToArray());
                    lin += n;
                }
                else
                {
                    Assert.True(rec.IsDmabuf);
                    Assert.Equal(env.DmabufId, rec.Data.DmabufId);
                    Assert.NotEqual(0u, rec.Data.FragToken);
                    Assert.Equal(expected.AsSpan(pos + sum, n).ToArray(), env.ReadDevice(rec.Data));
                    tokens.Add(rec.Data.FragToken);
                }
                sum += n;
            }
            Assert.Equal(r.Bytes, sum);
            Assert.Equal(r.LinearBytes, lin);
            pos += r.Bytes;
        }
        Assert.Equal(expected.Length, pos);
        return tokens;
    }

    [Fact]
    public void Dmabuf_cmsg_and_token_have_the_kernel_layout()
    {
        Assert.Equal(24, System.Runtime.CompilerServices.Unsafe.SizeOf<DmabufCmsg>());
        Assert.Equal(8, System.Runtime.CompilerServices.Unsafe.SizeOf<DmabufToken>());
        Assert.Equal(0, (int)System.Runtime.InteropServices.Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.FragOffset)));
        Assert.Equal(8, (int)System.Runtime.InteropServices.Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.FragSize)));
        Assert.Equal(12, (int)System.Runtime.InteropServices.Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.FragToken)));
        Assert.Equal(16, (int)System.Runtime.InteropServices.Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.DmabufId)));
        Assert.Equal(20, (int)System.Runtime.InteropServices.Marshal.OffsetOf<DmabufCmsg>(nameof(DmabufCmsg.Flags)));
        Assert.Equal(4, (int)System.Runtime.InteropServices.Marshal.OffsetOf<DmabufToken>(nameof(DmabufToken.TokenCount)));
        Assert.Equal((78, 79, 80, 0x2000000), (Devmem.SoDevmemLinear, Devmem.SoDevmemDmabuf, Devmem.SoDevmemDontneed, Devmem.MsgSockDevmem));
    }

    [Fact]
    public void Devmem_receive_returns_records_whose_bytes_match_and_dontneed_frees_each_token()
    {
        using var env = new DevmemTestEnv();
        var l = env.Listen();
        var (c, s) = env.Connect(l);
        var data = Pattern(300_000, 1);
        var send = c.SendAsync(data); // completes once the receiver has made room
        var tokens = ReceiveAll(env, s, data);
        Assert.Equal(data.Length, env.Run(send));
        output.WriteLine($"{tokens.Count} tokens, pool {env.Pool.GetStats()}");
        Assert.True(tokens.Count >= data.Length / 4096, $"{tokens.Count} dmabuf records");
        Assert.Equal(tokens.Count, s.DevmemTokensOutstanding);
        Assert.Equal(tokens.Count, tokens.Distinct().Count());
        // ncdevmem's way: one DONTNEED per token, each must free exactly one frag.
        foreach (var t in tokens) Assert.Equal(1, s.DevmemDontNeed([new DmabufToken(t, 1)]));
        Assert.Equal(0, s.DevmemTokensOutstanding);
        Assert.Equal(0, s.DevmemDontNeed([new DmabufToken(tokens[0], 1)])); // already released
        Assert.True(env.Net.B.Tcp.Stats.DevmemFragCount >= tokens.Count);
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void A_copying_receive_of_device_memory_fails_with_EFAULT_and_loses_nothing()
    {
        using var env = new DevmemTestEnv();
        var l = env.Listen();
        var (c, s) = env.Connect(l);
        var data = Pattern(100_000, 2);
        Assert.Equal(data.Length, env.Run(c.SendAsync(data)));
        env.Net.Poll();
        long faults = env.Net.B.Tcp.Stats.ReadFaultCount;
        Assert.Equal(Errno.EFAULT, env.Fails(s.ReceiveAsync(new byte[4096])));
        Assert.Equal(Errno.EFAULT, env.Fails(s.ReceiveAsync(new byte[1])));
        Assert.Equal(faults + 2, env.Net.B.Tcp.Stats.ReadFaultCount);
        Assert.Equal(data.Length, s.Connection!.ReceiveQueued); // nothing was consumed

        // A lease takes device memory as netmem segments only; its bytes are checked through the device.
        var lease = env.Run(s.ReceiveLeaseAsync(10_000));
        Assert.False(lease.IsReadable);
        Assert.Equal(10_000, lease.Length);
        Assert.Equal(Errno.EFAULT, Assert.Throws<NetmemErrnoException>(() => lease.GetSpan(0)).Errno);
        Assert.Equal(Errno.EFAULT, Assert.Throws<NetmemErrnoException>(() => lease.GetSequence()).Errno);
        int at = 0;
        foreach (var seg in lease.Segments)
        {
            Assert.True(seg.Netmem.IsNetIov);
            var b = new byte[seg.Length];
            env.ReadDevice((long)seg.Netmem.NetIovVirtualAddr + seg.Offset, b);
            Assert.Equal(data.AsSpan(at, seg.Length).ToArray(), b);
            at += seg.Length;
        }
        Assert.Equal(10_000, at);
        lease.Dispose();

        // The rest, byte for byte, with devmem receive.
        var tokens = ReceiveAll(env, s, data, start: 10_000);
        Assert.Equal(tokens.Count, s.DevmemTokensOutstanding);
        c.Dispose();
        s.Dispose(); // close() frees the tokens still out
        Assert.Equal(0, s.DevmemTokensOutstanding);
    }

    [Fact]
    public void Dontneed_of_another_sockets_tokens_frees_nothing()
    {
        using var env = new DevmemTestEnv();
        var l = env.Listen();
        var (c1, s1) = env.Connect(l);
        var (c2, s2) = env.Connect(l);
        var d1 = Pattern(50_000, 3);
        Assert.Equal(d1.Length, env.Run(c1.SendAsync(d1)));
        var t1 = ReceiveAll(env, s1, d1);
        Assert.NotEmpty(t1);
        uint max = t1.Max();
        // Socket 2 holds no token: socket 1's numbers name nothing there.
        Assert.Equal(0, s2.DevmemDontNeed([new DmabufToken(1, max)]));
        Assert.Equal(t1.Count, s1.DevmemTokensOutstanding);
        // Socket 2 gets tokens of its own (numbered from 1 again); releasing by number frees only its own.
        var d2 = Pattern(20_000, 4);
        Assert.Equal(d2.Length, env.Run(c2.SendAsync(d2)));
        var t2 = ReceiveAll(env, s2, d2);
        Assert.Contains(1u, t2);
        Assert.Equal(t2.Count, s2.DevmemDontNeed([new DmabufToken(1, max)]));
        Assert.Equal(0, s2.DevmemTokensOutstanding);
        Assert.Equal(t1.Count, s1.DevmemTokensOutstanding);
        Assert.Equal(t1.Count, s1.DevmemDontNeed([new DmabufToken(1, max)]));
        foreach (var x in new[] { c1, s1, c2, s2 }) x.Dispose();
    }

    [Fact]
    public void Dontneed_takes_at_most_128_ranges_and_1024_frags_a_call_and_returns_what_it_freed()
    {
        using var env = new DevmemTestEnv(niovs: 8192);
        var l = env.Listen();
        var (c, s) = env.Connect(l);
        var data = Pattern(2_000_000, 5);
        var send = c.SendAsync(data);
        var tokens = ReceiveAll(env, s, data);
        Assert.Equal(data.Length, env.Run(send));
        int n = tokens.Count;
        output.WriteLine($"{n} tokens");
        Assert.True(n > 1100, $"{n} tokens");
        Assert.Equal(n, (int)tokens.Max()); // 1..n, lowest first

        var tooMany = new DmabufToken[Devmem.MaxDontneedTokens + 1];
        for (int i = 0; i < tooMany.Length; i++) tooMany[i] = new DmabufToken((uint)i + 1, 1);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetmemErrnoException>(() => s.DevmemDontNeed(tooMany)).Errno);
        Assert.Equal(n, s.DevmemTokensOutstanding);
        Assert.Equal(128, s.DevmemDontNeed(tooMany.AsSpan(0, 128))); // 128 ranges are fine

        // 1024 tokens looked at per call, unknown ones included; then it stops and says what it freed.
        Assert.Equal(0, s.DevmemDontNeed([new DmabufToken(1_000_000, 1024), new DmabufToken(129, (uint)n)]));
        Assert.Equal(1024, s.DevmemDontNeed([new DmabufToken(129, uint.MaxValue)]));
        Assert.Equal(n - 128 - 1024, s.DevmemTokensOutstanding);
        Assert.Equal(0, s.DevmemDontNeed([new DmabufToken(1, uint.MaxValue)])); // 1..1024 are free now: the limit counts them
        Assert.Equal(n - 128 - 1024, s.DevmemDontNeed([new DmabufToken(128 + 1024 + 1, uint.MaxValue)]));
        Assert.Equal(0, s.DevmemTokensOutstanding);
        Assert.Equal(0, s.DevmemDontNeed([new DmabufToken(0, 1)])); // token 0 is never handed out

        // Released tokens are reused lowest first.
        var more = Pattern(8000, 6);
        Assert.Equal(more.Length, env.Run(c.SendAsync(more)));
        var again = ReceiveAll(env, s, more);
        Assert.Equal(Enumerable.Range(1, again.Count).Select(i => (uint)i), again);
        c.Dispose();
        s.Dispose();
    }

    [Fact]
    public void Closing_a_socket_with_tokens_out_returns_every_net_iov()
    {
        using var env = new DevmemTestEnv(niovs: 2048);
        var l = env.Listen();
        var (c, s) = env.Connect(l);
        var data = Pattern(400_000, 7);
        var send = c.SendAsync(data);
        var tokens = ReceiveAll(env, s, data);
        Assert.Equal(data.Length, env.Run(send));
        Assert.Equal(tokens.Count, s.DevmemTokensOutstanding);
        c.Dispose();
        s.Dispose();
        env.Net.Poll();
        Assert.Equal(0, s.DevmemTokensOutstanding);
        Assert.Equal(0, s.DevmemDontNeed([new DmabufToken(1, uint.MaxValue)])); // nothing left to release
        // Dispose of the env checks the provider got every net_iov back and the pool ended with inflight 0.
    }
}
