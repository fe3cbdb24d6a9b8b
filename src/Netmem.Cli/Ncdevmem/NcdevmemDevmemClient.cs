using Netmem.Devices;
using Netmem.Dmabuf;
using Netmem.Sockets;

namespace Netmem.Cli.Ncdevmem;

/// <summary>
/// ncdevmem's client in TX mode (<c>do_client</c> with a TX dma-buf): the pattern is written into device memory
/// with the exporter's host copy (as ncdevmem's provider does with cudaMemcpy HtoD), the dma-buf is bound for
/// TX on the sending device (bind-tx), and each chunk goes out with MSG_ZEROCOPY from the dma-buf
/// (<see cref="TcpSocket.SendDevmemAsync"/>): the stack never reads it, the NIC DMAs it. A slot of the dma-buf
/// is rewritten only after its send's completion arrived, as ncdevmem waits for its completion before reusing
/// the buffer; <see cref="Slots"/> chunks are in flight at a time so the ACK clock keeps running.
/// </summary>
internal sealed class NcdevmemDevmemClient : IDisposable
{
    public const int ChunkSize = 256 * 1024;
    public const int Slots = 4;

    private NcdevmemDevmemClient(DeviceMemoryDmaBuf buffer, NetDevmemBinding binding)
    {
        Buffer = buffer;
        Binding = binding;
    }

    /// <summary>The device memory the client sends from.</summary>
    public DeviceMemoryDmaBuf Buffer { get; }
    /// <summary>The TX binding (bind-tx on the sending device).</summary>
    public NetDevmemBinding Binding { get; }

    /// <summary>Allocates the device memory and binds it for TX on <paramref name="dev"/>.</summary>
    public static NcdevmemDevmemClient Bind(NetDevice dev)
    {
        var buf = new DeviceMemoryDmaBuf((long)ChunkSize * Slots, "ncdevmem-tx");
        try
        {
            return new NcdevmemDevmemClient(buf, NetDevmemBinding.BindTx(dev, buf));
        }
        catch
        {
            buf.Dispose();
            throw;
        }
    }

    /// <summary>Sends the first <paramref name="bytes"/> of the pattern's stream from device memory, then a FIN.</summary>
    public async Task<long> SendAsync(TcpSocket socket, NcdevmemPattern pattern, long bytes, CancellationToken ct)
    {
        socket.ZeroCopy = true; // SO_ZEROCOPY: devmem TX is MSG_ZEROCOPY from the dma-buf
        var inFlight = new Task<int>?[Slots];
        long sent = 0;
        for (int i = 0; sent < bytes; i = (i + 1) % Slots)
        {
            if (inFlight[i] is { } prior) await prior.ConfigureAwait(false); // the slot's completion: it may be rewritten
            int n = (int)Math.Min(ChunkSize, bytes - sent);
            long at = (long)i * ChunkSize;
            Buffer.CopyFromHost(at, pattern.Span(sent, n));
            inFlight[i] = socket.SendDevmemAsync(Binding.Id, at, n, ct).AsTask();
            sent += n;
        }
        foreach (var t in inFlight)
            if (t is not null) await t.ConfigureAwait(false);
        socket.ShutdownSend();
        return sent;
    }

    /// <summary>Unbinds (the memory is freed once the last frag is gone) and drops the creator's dma-buf reference.</summary>
    public void Dispose()
    {
        Binding.Dispose();
        Buffer.Dispose();
    }
}
