using System.Collections;
using Confiture.Core.Catalog;
using Confiture.Core.Connections;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Completion;

/// <summary>Completes the schema names of the target database.</summary>
public sealed class TargetSchemaCompleter : CatalogCompleter
{
    private protected override Side Side => Side.Target;

    private protected override IReadOnlyList<string> Fetch(
        DatabaseEndpoint endpoint, ConfitureMigration? migration, IDictionary fakeBoundParameters, string prefix, out string where)
    {
        where = $"target schema on {endpoint}";
        return WithTimeout(token => CatalogBrowser.SchemasAsync(endpoint, prefix, token));
    }
}
