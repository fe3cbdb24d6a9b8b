namespace Netmem.Cli.Ncdevmem;

/// <summary>ncdevmem's settings (its getopt letters in brackets) plus what the in-process runs need.</summary>
internal sealed record NcdevmemOptions
{
    /// <summary>ncdevmem's NUM_PAGES: the dma-buf is this many 4 KiB pages.</summary>
    public const int DefaultPages = 16000;

    /// <summary>[-p] TCP port. Default 5201.</summary>
    public ushort Port { get; init; } = 5201;
    /// <summary>[-v] validation modulus (2..256); 0 = no validation. Default 7, as the selftest runs it.</summary>
    public int Modulus { get; init; } = 7;
    /// <summary>[-t] first bound RX queue; -1 = the last queue(s) of the device, as ncdevmem picks.</summary>
    public int StartQueue { get; init; } = -1;
    /// <summary>[-q] number of bound RX queues. Default 1.</summary>
    public int NumQueues { get; init; } = 1;
    /// <summary>Size of the dma-buf in pages. Default <see cref="DefaultPages"/>.</summary>
    public int Pages { get; init; } = DefaultPages;
    /// <summary>Bind device memory the CPU cannot read (checked through the verification hook) instead of a memfd (udmabuf).</summary>
    public bool DeviceMemory { get; init; }
    /// <summary>Bytes the client sends. Default 1 GiB.</summary>
    public long Bytes { get; init; } = 1L << 30;
    /// <summary>The client's -v when it is not <see cref="Modulus"/> (a test's way to send the wrong stream); null = the same.</summary>
    public int? ClientModulus { get; init; }
    /// <summary>The -v pattern the client sends.</summary>
    public int SendModulus => ClientModulus ?? (Modulus == 0 ? 7 : Modulus);
    /// <summary>The client sends from device memory with devmem TX (ncdevmem's client with a TX dma-buf: bind-tx, MSG_ZEROCOPY + SCM_DEVMEM_DMABUF) instead of copying sends.</summary>
    public bool TxDevmem { get; init; }
    /// <summary>Print one line per received frag, as ncdevmem does (slow).</summary>
    public bool Verbose { get; init; }
}
