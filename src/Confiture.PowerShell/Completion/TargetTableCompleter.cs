using System.Collections;
using Confiture.Core.Catalog;
using Confiture.Core.Connections;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Completion;

/// <summary>Completes target table names, in the schema given with -TargetSchema, else public.</summary>
public sealed class TargetTableCompleter : CatalogCompleter
{
    private protected override Side Side => Side.Target;

    private protected override IReadOnlyList<string> Fetch(
        DatabaseEndpoint endpoint, ConfitureMigration? migration, IDictionary fakeBoundParameters, string prefix, out string where)
    {
        var schema = BoundString(fakeBoundParameters, "TargetSchema") ?? "public";
        where = $"target table in {schema} on {endpoint}";
        return WithTimeout(token => CatalogBrowser.TablesAsync(endpoint, schema, prefix, token));
    }
}
