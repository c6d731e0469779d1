using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace Confiture.PowerShell.Hosting;

/// <summary>
/// Routes the one assembly the cmdlets reference, the engine, to the private load context when the
/// module is imported; the engine's own references then resolve inside that context.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string EngineAssembly = "Confiture.Core";

    /// <inheritdoc />
    public void OnImport() => AssemblyLoadContext.Default.Resolving += ResolveEngine;

    /// <inheritdoc />
    public void OnRemove(PSModuleInfo psModuleInfo) => AssemblyLoadContext.Default.Resolving -= ResolveEngine;

    private static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName name) =>
        name.Name == EngineAssembly && DependencyLoadContext.Instance.Provides(name)
            ? DependencyLoadContext.Instance.LoadFromAssemblyName(name)
            : null;
}
