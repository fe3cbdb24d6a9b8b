using System.Diagnostics;
using System.Text.RegularExpressions;
using Netmem.Cli;
using Netmem.Cli.Ncdevmem;

namespace Netmem.Tests.Cli;

/// <summary><c>netmem ncdevmem</c> over the VirtualNic pair: the ncdevmem server and client in this process.</summary>
public sealed class NcdevmemTests(ITestOutputHelper output)
{
    private static (int Rc, string Out, string Err) Run(NcdevmemOptions o, int mtu = 1500)
    {
        var so = new StringWriter();
        var se = new StringWriter();
        int rc = NcdevmemCommand.Run(so, se, o, mtu: mtu, timeoutSeconds: 120);
        return (rc, so.ToString(), se.ToString());
    }

    private static long Field(string text, string name)
    {
        var m = Regex.Match(text, name + @"=(\d+)");
        Assert.True(m.Success, $"no {name}= in: {text}");
        return long.Parse(m.Groups[1].Value);
    }

    /// <summary>
    /// The multi-GiB transfer: 2 GiB through the ncdevmem server (memfd dma-buf, validated in place) with
    /// every byte checked, every token released and counted by DONTNEED, and every pool at inflight 0 after.
    /// MTU 9000 keeps it to a few seconds on two cores (the PASS line says how long).
    /// </summary>
    [Fact]
    public void Ncdevmem_validates_2_GiB_over_the_VirtualNic_pair_and_exits_0()
    {
        var sw = Stopwatch.StartNew();
        var (rc, text, err) = Run(new NcdevmemOptions { Bytes = 2L << 30 }, mtu: 9000);
        output.WriteLine($"{sw.Elapsed.TotalSeconds:0.0} s");
        output.WriteLine(text);
        Assert.True(rc == 0, $"rc {rc}: {err}\n{text}");
        Assert.Contains("ncdevmem: ok", text);
        Assert.Contains($"PASS: {2L << 30} of {2L << 30} bytes received", text);
        Assert.Contains("0 mismatches (-v 7)", text);
        Assert.Equal(2L << 30, Field(text, "total_received"));
        long frags = Field(text, "page_aligned_frags") + Field(text, "non_page_aligned_frags");
        Assert.True(frags >= (2L << 30) / 4096, $"{frags} frags");
        Assert.Contains($"{frags} tokens released by DONTNEED", text);
        Assert.Contains("pool inflight 0", text);
        Assert.Contains("binding freed True, dma-buf released True; arena pages not returned 0", text);
    }

    /// <summary>The command as run with no arguments (1 GiB, MTU 1500, memfd) exits 0.</summary>
    [Fact]
    public void Ncdevmem_with_its_defaults_validates_1_GiB_and_exits_0()
    {
        var sw = Stopwatch.StartNew();
        var (rc, text, err) = Run(new NcdevmemOptions());
        output.WriteLine($"{sw.Elapsed.TotalSeconds:0.0} s");
        output.WriteLine(text);
        Assert.True(rc == 0, $"rc {rc}: {err}\n{text}");
        Assert.Contains($"PASS: {1L << 30} of {1L << 30} bytes received", text);
        Assert.Contains("(memfd udmabuf, 16000 pages) on vnic1 rx queues 1", text);
        Assert.Equal(1L << 30, Field(text, "total_received"));
    }

    [Fact]
    public void Ncdevmem_on_device_memory_checks_through_the_verification_hook()
    {
        var (rc, text, err) = Run(new NcdevmemOptions { Bytes = 128L << 20, DeviceMemory = true, Modulus = 256, Pages = 4096 }, mtu: 4500);
        output.WriteLine(text);
        Assert.True(rc == 0, $"rc {rc}: {err}\n{text}");
        Assert.Contains("(device memory, 4096 pages)", text);
        Assert.Contains("0 mismatches (-v 256)", text);
    }

    /// <summary>A client sending another -v stream: mismatches reported, the run stops past 20 and exits 1, and still drains.</summary>
    [Fact]
    public void Ncdevmem_fails_after_more_than_20_mismatches_and_still_drains_every_pool()
    {
        var (rc, text, err) = Run(new NcdevmemOptions { Bytes = 64L << 20, Modulus = 7, ClientModulus = 8 });
        output.WriteLine(text);
        Assert.Equal(1, rc);
        Assert.Equal(NcdevmemValidator.MaxErrors + 1, Regex.Matches(text, "Failed validation: expected=").Count);
        Assert.Contains("validation failed.", text);
        Assert.Contains("FAIL:", text);
        Assert.Contains("21 mismatches", text);
        Assert.Contains("pool inflight 0", text);
        Assert.Contains("binding freed True, dma-buf released True; arena pages not returned 0", text);
        Assert.Equal("", err);
    }

    /// <summary>
    /// <c>netmem ncdevmem client --tx devmem</c>: the client writes the pattern into device memory, binds it for TX on
    /// vnic0 and sends from it; the ncdevmem server on vnic1 validates every byte in its own device memory.
    /// </summary>
    [Fact]
    public void Ncdevmem_client_tx_devmem_sends_from_device_memory_and_the_server_validates_every_byte()
    {
        const long bytes = 64L << 20;
        var (rc, text, err) = Run(new NcdevmemOptions { Bytes = bytes, TxDevmem = true, DeviceMemory = true, Pages = 4096 });
        output.WriteLine(text);
        Assert.True(rc == 0, $"rc {rc}: {err}\n{text}");
        Assert.Contains("client: bind-tx", text);
        Assert.Contains($"validated {bytes} bytes, 0 mismatches", text);
        Assert.Contains($"client sent {bytes} bytes from device memory (TX binding freed True, its dma-buf released True)", text);
        Assert.Contains($"PASS: {bytes} of {bytes} bytes received", text);
        Assert.Contains("pool inflight 0", text);
        Assert.Equal("", err);
    }

    /// <summary>A devmem TX client sending the -v 8 stream to a -v 7 server: the server's validation catches it, so it checks what device memory sent.</summary>
    [Fact]
    public void Ncdevmem_client_tx_devmem_with_the_wrong_pattern_fails_validation_and_still_drains()
    {
        var (rc, text, _) = Run(new NcdevmemOptions { Bytes = 4L << 20, TxDevmem = true, DeviceMemory = true, Pages = 4096, ClientModulus = 8 });
        Assert.Equal(1, rc);
        Assert.Contains("FAIL", text);
        Assert.Contains("TX binding freed True", text);
        Assert.Contains("pool inflight 0", text);
    }

    [Fact]
    public void Ncdevmem_client_subcommand_parses_tx_devmem_and_rejects_other_modes()
    {
        var ok = NcdevmemCommand.Create().Parse(["client", "--tx", "devmem", "--bytes", "1048576"]);
        Assert.Empty(ok.Errors);
        Assert.Equal("client", ok.CommandResult.Command.Name);
        Assert.NotEmpty(NcdevmemCommand.Create().Parse(["client", "--tx", "udp"]).Errors);
        var se = new StringWriter();
        Assert.Equal(2, NcdevmemCommand.Run(TextWriter.Null, se, new NcdevmemOptions { TxDevmem = true }, tap: true));
        Assert.Contains("--tx devmem needs the VirtualNic pair", se.ToString());
    }

    [Fact]
    public void Ncdevmem_rejects_bad_arguments_with_a_message()
    {
        var (rc, _, err) = Run(new NcdevmemOptions { Modulus = 1 });
        Assert.Equal(2, rc);
        Assert.Contains("-v must be", err);
        var se = new StringWriter();
        Assert.Equal(2, NcdevmemCommand.Run(TextWriter.Null, se, new NcdevmemOptions(), listen: true));
        Assert.Contains("-l (server only) needs --tap", se.ToString());
        se = new StringWriter();
        Assert.Equal(1, NcdevmemCommand.Run(TextWriter.Null, se, new NcdevmemOptions { StartQueue = 5 }));
        Assert.Contains("are not all on vnic1", se.ToString()); // ERANGE from the queue check, before any bind
        se = new StringWriter();
        Assert.Equal(2, NcdevmemCommand.Run(TextWriter.Null, se, new NcdevmemOptions { Modulus = 11 }, tap: true, client: "socat"));
        Assert.Contains("cannot send the -v 11 stream", se.ToString());
    }

    /// <summary>The pattern is ncdevmem's validate_buffer sequence: a seed from 1, '\n' for 0, wrapping at v.</summary>
    [Theory]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(251)]
    [InlineData(256)]
    public void The_pattern_is_the_one_ncdevmem_validates(int v)
    {
        var p = new NcdevmemPattern(v);
        byte seed = 1;
        var want = new byte[3000];
        for (int i = 0; i < want.Length; i++)
        {
            want[i] = seed != 0 ? seed : (byte)'\n';
            seed++;
            if (seed == v) seed = 0;
        }
        Assert.Equal(want, p.Span(0, want.Length).ToArray());
        Assert.Equal(want.AsSpan(1234, 1000).ToArray(), p.Span(1234, 1000).ToArray());
        var log = new StringWriter();
        var check = new NcdevmemValidator(p, log);
        Assert.True(check.Check(want.AsSpan(0, 1000)));
        Assert.True(check.Check(want.AsSpan(1000, 2000)));
        Assert.Equal(0, check.Errors);
        Assert.Equal(3000, check.Offset);
    }

    [Fact]
    public void The_validator_counts_each_wrong_byte_at_its_stream_offset_and_fails_past_20()
    {
        var p = new NcdevmemPattern(7);
        var log = new StringWriter();
        var check = new NcdevmemValidator(p, log);
        var piece = p.Span(0, 100).ToArray();
        piece[50] ^= 0x40;
        Assert.True(check.Check(piece));
        Assert.Equal(1, check.Errors);
        Assert.Contains("index=50", log.ToString());
        Assert.True(check.Check(p.Span(100, 100))); // the stream goes on at offset 100
        Assert.Equal(1, check.Errors);
        Assert.False(check.Check(p.Span(0, 100))); // shifted: most bytes differ; stops past 20
        Assert.True(check.Failed);
        Assert.Equal(NcdevmemValidator.MaxErrors + 1, check.Errors);
        Assert.Contains("validation failed.", log.ToString());
    }
}
