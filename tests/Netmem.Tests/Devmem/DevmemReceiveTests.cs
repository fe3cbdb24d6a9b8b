using Netmem.Sockets;
using Netmem.Stack.Tcp;
using Xunit.Abstractions;

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
                    Assert.Equal(DevmemTestEnv.DmabufId, rec.Data.DmabufId);
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
        Assert.Equal(data.Length, env.Run(c.SendAsync(data)));
        var tokens = ReceiveAll(env, s, data);
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
}
