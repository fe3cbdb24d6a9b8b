using System.Runtime.InteropServices;

namespace Netmem.Native;

/// <summary>The few libc calls the C ABI makes itself: placeholder descriptors.</summary>
internal static partial class Libc
{
    private const int O_RDONLY = 0, O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>A real descriptor (on /dev/null) whose number names a socket of ours; negative when none is left.</summary>
    public static int OpenPlaceholder() => Open("/dev/null", O_RDONLY | O_CLOEXEC);

    /// <summary>Whether <paramref name="fd"/> is still an open /dev/null (so still a placeholder of ours).</summary>
    public static bool IsPlaceholder(int fd)
    {
        try { return new FileInfo($"/proc/self/fd/{fd}").LinkTarget == "/dev/null"; }
        catch (IOException) { return false; }
    }

    /// <summary>Closes a placeholder; one the caller already closed with the real close() is fine (EBADF ignored).</summary>
    public static void ClosePlaceholder(int fd) => Close(fd);
}
