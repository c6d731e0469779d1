using System.Reflection;
using System.Runtime.Loader;

namespace Confiture.PowerShell.Hosting;

/// <summary>
/// Loads the engine and its dependencies (Npgsql and friends) from the module's Dependencies folder,
/// apart from everything else in the PowerShell process, so another module that ships a different
/// Npgsql cannot break Confiture, nor Confiture it.
/// </summary>
internal sealed class DependencyLoadContext : AssemblyLoadContext
{
    private readonly string _directory;

    private DependencyLoadContext(string directory)
        : base("Confiture.Dependencies", isCollectible: false)
    {
        _directory = directory;
    }

    public static DependencyLoadContext Instance { get; } = new(Path.Combine(
        Path.GetDirectoryName(typeof(DependencyLoadContext).Assembly.Location) ?? AppContext.BaseDirectory,
        "Dependencies"));

    public bool Provides(AssemblyName name) => File.Exists(PathOf(name));

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // Assemblies the runtime itself ships (System.Diagnostics.DiagnosticSource...) stay shared, so
        // their types keep one identity; the rest of the folder is ours alone.
        if (assemblyName.Name is null || FrameworkAssemblies.Value.Contains(assemblyName.Name))
        {
            return null;
        }

        var path = PathOf(assemblyName);
        return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
    }

    private static readonly Lazy<HashSet<string>> FrameworkAssemblies = new(() =>
        ((AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string) ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(Path.GetFileNameWithoutExtension)
            .OfType<string>()
            .ToHashSet(StringComparer.OrdinalIgnoreCase));

    private string PathOf(AssemblyName name) => Path.Combine(_directory, name.Name + ".dll");
}
