using System.Runtime.InteropServices;

namespace Netmem.Tests.Native;

/// <summary>
/// libnetmem.so as the build left it (native/ next to the test assembly, see Netmem.Tests.csproj), loaded
/// once, with its exports as unmanaged function pointers. <see cref="Unavailable"/> says why not when the
/// NativeAOT publish could not run here (no clang, no ILCompiler package).
/// </summary>
internal static unsafe class NetmemNative
{
    private static readonly Lazy<nint> Handle = new(Load);
    private static string? _why;

    public static string Dir => Path.Combine(AppContext.BaseDirectory, "native");
    public static string SoPath => Path.Combine(Dir, "libnetmem.so");

    /// <summary>Null when the library is loaded; otherwise why it is not there.</summary>
    public static string? Unavailable
    {
        get
        {
            _ = Handle.Value;
            return _why;
        }
    }

    private static nint Load()
    {
        if (!OperatingSystem.IsLinux()) { _why = "libnetmem.so is Linux only"; return 0; }
        if (!File.Exists(SoPath))
        {
            string log = Path.Combine(Dir, "publish.log");
            string tail = File.Exists(log) ? string.Join(" | ", File.ReadLines(log).Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)).Take(3)) : "no publish log";
            _why = $"{SoPath} was not built (NativeAOT needs clang: apt-get install clang lld): {tail}";
            return 0;
        }
        return System.Runtime.InteropServices.NativeLibrary.Load(SoPath);
    }

    public static nint Export(string name) => System.Runtime.InteropServices.NativeLibrary.GetExport(Handle.Value, name);

    public static int Errno => Marshal.GetLastSystemError();
}
