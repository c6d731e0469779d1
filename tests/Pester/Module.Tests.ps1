BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'The Confiture module' {
    It 'exports exactly the six cmdlets of the design' {
        (Get-Command -Module Confiture).Name | Sort-Object | Should -Be @(
            'Connect-ConfitureDatabase', 'Enable-ConfitureFdw', 'Get-ConfitureStrategy',
            'Invoke-ConfitureTableMigration', 'Remove-ConfitureFdw', 'Test-ConfitureMigration')
    }

    It 'declares an output type on every cmdlet' {
        foreach ($command in Get-Command -Module Confiture) {
            $command.OutputType | Should -Not -BeNullOrEmpty -Because "$($command.Name) emits typed objects"
        }
    }

    It 'keeps Npgsql out of the default load context' {
        [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Npgsql' } |
            ForEach-Object { [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($_).Name } |
            Should -Not -Contain 'Default'
    }
}
